# Reference results for pl_eval.estimation, from R (lm + sandwich, clubSandwich, lme4).
#
# Run from the repository root:  Rscript tests/data/r/make_fixtures.R
# Writes tests/data/r/data.csv (the simulated data) and tests/data/r/results.json (every
# coefficient and full covariance matrix, with the R and package versions). The data are
# simulated here with a fixed seed, so re-running reproduces both files.
#
# Debian packages: r-base-core r-cran-lme4 r-cran-sandwich r-cran-clubsandwich r-cran-jsonlite
# (this run: see "versions" in results.json)

suppressPackageStartupMessages({
  library(sandwich)
  library(clubSandwich)
  library(lme4)
  library(jsonlite)
})

out_dir <- "tests/data/r"
set.seed(20141)

# ---- data: 2,000 students in 60 schools, treatment by school, matching-style weights ----------
n_schools <- 60
n <- 2000
school_treat <- rep(c(1L, 0L), each = n_schools / 2)
school_effect <- rnorm(n_schools, sd = 0.3)
school <- sort(sample(n_schools, n, replace = TRUE, prob = runif(n_schools, 0.5, 1.5)))
treat <- school_treat[school]
grade <- sample(c("3", "4", "5"), n, replace = TRUE)
female <- rbinom(n, 1, 0.5)
baseline <- round(rnorm(n, mean = 0.2 * treat), 6)
grade_shift <- c("3" = 0, "4" = 0.1, "5" = -0.15)[grade]
group_effect <- c("3" = 0.1, "4" = 0.25, "5" = 0.3)[grade] # treatment effect by grade
outcome <- round(
  0.05 + group_effect * treat + 0.7 * baseline + 0.05 * female + grade_shift +
    school_effect[school] + rnorm(n, sd = 0.6),
  6
)
# controls carry unequal weights, as after k:1 matching with replacement
weight <- ifelse(treat == 1, 1, round(sample(c(0.25, 0.5, 1, 1.5, 3), n, replace = TRUE), 3))
data <- data.frame(
  student_id = seq_len(n), school = sprintf("s%02d", school), treat = treat, grade = grade,
  female = female, baseline = baseline, outcome = outcome, weight = weight
)
write.csv(data, file.path(out_dir, "data.csv"), row.names = FALSE)
data <- read.csv(file.path(out_dir, "data.csv"), colClasses = c(grade = "character"))

# ---- helpers ---------------------------------------------------------------------------------
as_list <- function(coefs, vc) {
  list(terms = names(coefs), coef = unname(coefs), vcov = unname(as.matrix(vc)))
}
f_main <- outcome ~ treat + baseline + female + grade
results <- list()

# ---- least squares with robust covariances ---------------------------------------------------
fit_w <- lm(f_main, data = data, weights = weight)
fit_u <- lm(f_main, data = data)
results$wls_cr1 <- as_list(coef(fit_w), vcovCL(fit_w, cluster = ~school, type = "HC1"))
results$ols_cr1 <- as_list(coef(fit_u), vcovCL(fit_u, cluster = ~school, type = "HC1"))
results$wls_hc1 <- as_list(coef(fit_w), vcovHC(fit_w, type = "HC1"))
results$ols_hc1 <- as_list(coef(fit_u), vcovHC(fit_u, type = "HC1"))
# CR2 (Bell-McCaffrey) as clubSandwich::vcovCR computes it for lm. With weights its defaults
# (inverse_var = FALSE, target = identity) treat them as sampling weights, not as inverse
# variances; sandwich::vcovCL(type = "HC2") uses another weighted adjustment and agrees only
# without weights (ols_vcovcl_hc2). One cluster per row gives the unclustered HC2.
results$wls_cr2 <- as_list(coef(fit_w), vcovCR(fit_w, cluster = data$school, type = "CR2"))
results$ols_cr2 <- as_list(coef(fit_u), vcovCR(fit_u, cluster = data$school, type = "CR2"))
results$ols_vcovcl_hc2 <- as_list(coef(fit_u), vcovCL(fit_u, cluster = ~school, type = "HC2"))
results$wls_hc2 <- as_list(coef(fit_w), vcovCR(fit_w, cluster = data$student_id, type = "CR2"))
results$ols_hc2 <- as_list(coef(fit_u), vcovHC(fit_u, type = "HC2"))
# a school indicator gives that school leverage 1: clubSandwich's pseudo-inverse root applies
data$only_s05 <- as.integer(data$school == "s05")
fit_d <- lm(update(f_main, . ~ . + only_s05), data = data, weights = weight)
results$wls_cr2_leverage_one <- as_list(coef(fit_d), vcovCR(fit_d, cluster = data$school, type = "CR2"))

# ---- random school intercepts, REML ----------------------------------------------------------
mixed <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  c(
    as_list(fixef(fit), vcov(fit)),
    list(
      theta = unname(getME(fit, "theta")), sigma = sigma(fit),
      var_cluster = vc$vcov[vc$grp == "school"], var_residual = vc$vcov[vc$grp == "Residual"],
      reml_criterion = unname(REMLcrit(fit))
    )
  )
}
control <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10))
results$lmer <- mixed(lmer(update(f_main, . ~ . + (1 | school)), data = data, control = control))
results$lmer_weighted <- mixed(lmer(update(f_main, . ~ . + (1 | school)),
  data = data, weights = weight, control = control
))

# ---- treatment x grade interaction: per-grade effects and the equal-effects Wald test ---------
by_group <- function(coefs, vc, df2) {
  levels <- c("3", "4", "5")
  # effect in grade g = treat + treat:grade<g> (grade 3 is the reference)
  L <- rbind(
    as.numeric(names(coefs) == "treat"),
    as.numeric(names(coefs) %in% c("treat", "treat:grade4")),
    as.numeric(names(coefs) %in% c("treat", "treat:grade5"))
  )
  est <- drop(L %*% coefs)
  se <- sqrt(diag(L %*% vc %*% t(L)))
  inter <- names(coefs) %in% c("treat:grade4", "treat:grade5")
  b <- coefs[inter]
  wald <- drop(t(b) %*% solve(vc[inter, inter], b))
  q <- sum(inter)
  test <- if (is.finite(df2)) {
    list(statistic = wald / q, df1 = q, df2 = df2, p_value = pf(wald / q, q, df2, lower.tail = FALSE))
  } else {
    list(statistic = wald, df1 = q, p_value = pchisq(wald, q, lower.tail = FALSE))
  }
  list(groups = levels, estimate = unname(est), se = unname(se), test = test)
}
f_int <- outcome ~ treat * grade + baseline + female
fit_i <- lm(f_int, data = data, weights = weight)
vc_i <- vcovCL(fit_i, cluster = ~school, type = "HC1")
results$interaction_cr1 <- c(
  as_list(coef(fit_i), vc_i),
  by_group(coef(fit_i), vc_i, df2 = length(unique(data$school)) - 1)
)
fit_im <- lmer(update(f_int, . ~ . + (1 | school)), data = data, weights = weight, control = control)
results$interaction_lmer <- c(
  as_list(fixef(fit_im), as.matrix(vcov(fit_im))),
  by_group(fixef(fit_im), as.matrix(vcov(fit_im)), df2 = Inf)
)

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  sandwich = as.character(packageVersion("sandwich")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix"))
)
write(
  toJSON(list(versions = versions, results = results), digits = NA, auto_unbox = TRUE, pretty = TRUE),
  file.path(out_dir, "results.json")
)
