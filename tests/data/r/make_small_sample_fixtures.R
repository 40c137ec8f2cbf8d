# Reference small-sample inference for pl_eval.estimation, from clubSandwich (CR2 with
# Satterthwaite degrees of freedom; the HTZ Wald test).
#
# Run from the repository root:  Rscript tests/data/r/make_small_sample_fixtures.R
# Reads tests/data/r/data.csv (made by make_fixtures.R: 60 schools, 30 treated, unequal
# weights), simulates tests/data/r/few_clusters.csv here with a fixed seed (2 PL schools among
# 9, unequal weights within schools, one single-student school) and writes every estimate, SE,
# Satterthwaite df and p-value and each HTZ test to tests/data/r/small_sample.json, with the R
# and package versions.
#
# Debian packages: r-base-core r-cran-clubsandwich r-cran-jsonlite

suppressPackageStartupMessages({
  library(clubSandwich)
  library(jsonlite)
})

out_dir <- "tests/data/r"
set.seed(20180)

# ---- data: few treated clusters ----------------------------------------------------------------
# 2 PL schools and 7 comparison schools, one of them with a single student; three grade bands;
# the comparison students carry unequal matching weights; schools differ (random shocks).
sizes <- c(25, 18, 30, 22, 15, 27, 12, 20, 1)
school_treat <- c(1L, 1L, 0L, 0L, 0L, 0L, 0L, 0L, 0L)
school_effect <- rnorm(length(sizes), sd = 0.25)
school <- rep(seq_along(sizes), sizes)
n <- length(school)
treat <- school_treat[school]
band <- sample(c("a", "b", "c"), n, replace = TRUE)
baseline <- round(rnorm(n, mean = 0.1 * treat), 6)
outcome <- round(
  0.1 * treat + c(a = 0, b = 0.15, c = -0.1)[band] + 0.6 * baseline + school_effect[school] +
    rnorm(n, sd = 0.5),
  6
)
weight <- ifelse(treat == 1, 1, sample(c(0.2, 0.5, 1, 2.5), n, replace = TRUE))
few <- data.frame(
  student_id = seq_len(n), school = sprintf("k%d", school), treat = treat, band = band,
  baseline = baseline, outcome = outcome, weight = weight
)
write.csv(few, file.path(out_dir, "few_clusters.csv"), row.names = FALSE)
few <- read.csv(file.path(out_dir, "few_clusters.csv"))
data <- read.csv(file.path(out_dir, "data.csv"), colClasses = c(grade = "character"))

# ---- helpers -----------------------------------------------------------------------------------
# Every coefficient: estimate, CR2 SE, Satterthwaite df and p (clubSandwich's coef_test default).
coefficients <- function(fit, cluster) {
  ct <- coef_test(fit, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  list(
    terms = ct$Coef, estimate = unname(ct$beta), se = unname(ct$SE), df = unname(ct$df_Satt),
    p_value = unname(ct$p_Satt)
  )
}
# Each group's effect as the coefficient of treat:<group> in the same model written with one
# treatment term per group (the same column space, so the same fit and CR2 covariance): its
# estimate, SE, Satterthwaite df, 95% CI and p. (clubSandwich 0.5.8's linear_contrast stops
# with an error for weighted lm, so the contrasts are made coefficients instead.)
group_effects <- function(fit, cluster, terms) {
  ct <- coef_test(fit, vcov = "CR2", cluster = cluster, test = "Satterthwaite")[terms, ]
  ci <- conf_int(fit, vcov = "CR2", cluster = cluster, coefs = terms)
  list(
    estimate = unname(ct$beta), se = unname(ct$SE), df = unname(ct$df_Satt),
    ci_low = unname(ci$CI_L), ci_high = unname(ci$CI_U), p_value = unname(ct$p_Satt)
  )
}
# HTZ Wald test that the named coefficients are all 0.
htz <- function(fit, cluster, terms) {
  w <- Wald_test(
    fit, constraints = constrain_zero(terms), vcov = "CR2", cluster = cluster, test = "HTZ"
  )
  list(
    terms = terms, statistic = w$Fstat, delta = w$delta, df_num = w$df_num,
    df_denom = w$df_denom, p_value = w$p_val
  )
}
results <- list()

# ---- the 60-school data of make_fixtures.R ---------------------------------------------------------
fit_w <- lm(outcome ~ treat + baseline + female + grade, data = data, weights = weight)
fit_u <- lm(outcome ~ treat + baseline + female + grade, data = data)
results$wls_cr2 <- coefficients(fit_w, data$school)
results$ols_cr2 <- coefficients(fit_u, data$school)
fit_i <- lm(outcome ~ treat * grade + baseline + female, data = data, weights = weight)
results$interaction_cr2 <- c(
  coefficients(fit_i, data$school),
  list(groups = c(list(levels = c("3", "4", "5")), group_effects(
    lm(outcome ~ grade + grade:treat + baseline + female, data = data, weights = weight),
    data$school, paste0("grade", c("3", "4", "5"), ":treat")
  ))),
  list(test = htz(fit_i, data$school, c("treat:grade4", "treat:grade5")))
)

# ---- few treated clusters ------------------------------------------------------------------------
fit_fw <- lm(outcome ~ treat + baseline + band, data = few, weights = weight)
fit_fu <- lm(outcome ~ treat + baseline + band, data = few)
results$few_wls_cr2 <- coefficients(fit_fw, few$school)
results$few_ols_cr2 <- coefficients(fit_fu, few$school)
fit_fi <- lm(outcome ~ treat * band + baseline, data = few, weights = weight)
results$few_interaction_cr2 <- c(
  coefficients(fit_fi, few$school),
  list(groups = c(list(levels = c("a", "b", "c")), group_effects(
    lm(outcome ~ band + band:treat + baseline, data = few, weights = weight),
    few$school, paste0("band", c("a", "b", "c"), ":treat")
  ))),
  list(test = htz(fit_fi, few$school, c("treat:bandb", "treat:bandc")))
)

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  clubSandwich = as.character(packageVersion("clubSandwich"))
)
write(
  toJSON(list(versions = versions, results = results), digits = NA, auto_unbox = TRUE, pretty = TRUE),
  file.path(out_dir, "small_sample.json")
)
