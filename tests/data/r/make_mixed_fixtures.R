# Reference fits of the random-intercept model with one school variance per arm, for
# pl_eval.estimation.mixed, from lme4 (REML) and lmerTest (Satterthwaite degrees of freedom).
#
# Run from the repository root:  Rscript tests/data/r/make_mixed_fixtures.R
# Reads tests/data/r/data.csv (make_fixtures.R: 60 schools, 30 treated, unequal weights) and
# tests/data/r/few_clusters.csv (make_small_sample_fixtures.R: 2 PL schools among 9), simulates
# tests/data/r/mixed_arms.csv here with a fixed seed (10 PL schools whose intercepts vary five
# times as much as the 30 comparison schools', unequal weights, a covariate collinear with
# another) and writes, for each fit, every coefficient, its covariance, SE and Satterthwaite df
# (lmerTest's summary), the variance components, θ and the REML criterion to
# tests/data/r/mixed_arms.json, with the R and package versions. On few_clusters.csv (2 PL
# schools) the PL schools' variance is estimated as 0: a boundary fit.
#
# The model: lmer(y ~ treat + covariates + (0 + dummy(treat, "1") | school)
#                 + (0 + dummy(treat, "0") | school), weights = w, REML = TRUE)
# Every school is in one arm, so each school has one intercept, with the variance of its arm.
#
# Debian packages: r-base-core r-cran-lme4 r-cran-lmertest r-cran-jsonlite

suppressPackageStartupMessages({
  library(lmerTest) # attaches lme4; its lmer() keeps what Satterthwaite's df needs
  library(jsonlite)
})

out_dir <- "tests/data/r"
set.seed(20240)

# ---- data: a planted difference between the arms' school variances -------------------------------
n_pl <- 10
n_comparison <- 30
school_treat <- rep(c(1L, 0L), c(n_pl, n_comparison))
sizes <- sample(6:40, n_pl + n_comparison, replace = TRUE)
school_sd <- ifelse(school_treat == 1, 0.5, 0.1)
school_effect <- rnorm(n_pl + n_comparison, sd = school_sd)
school <- rep(seq_along(sizes), sizes)
n <- length(school)
treat <- school_treat[school]
band <- sample(c("a", "b", "c"), n, replace = TRUE)
baseline <- round(rnorm(n, mean = 0.15 * treat), 6)
shift <- c(a = 0, b = 0.2, c = -0.1)[band]
outcome <- round(
  0.2 * treat + shift + 0.6 * baseline + school_effect[school] + rnorm(n, sd = 0.5), 6
)
weight <- ifelse(treat == 1, 1, sample(c(0.25, 0.5, 1, 2), n, replace = TRUE))
arms <- data.frame(
  student_id = seq_len(n), school = sprintf("m%02d", school), treat = treat, band = band,
  baseline = baseline, baseline_x2 = 2 * baseline, outcome = outcome, weight = weight
)
write.csv(arms, file.path(out_dir, "mixed_arms.csv"), row.names = FALSE)
arms <- read.csv(file.path(out_dir, "mixed_arms.csv"))
data <- read.csv(file.path(out_dir, "data.csv"), colClasses = c(grade = "character"))
few <- read.csv(file.path(out_dir, "few_clusters.csv"))

# ---- helpers -----------------------------------------------------------------------------------
control <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12))
arm_terms <- ~ . + (0 + dummy(treat, "1") | school) + (0 + dummy(treat, "0") | school)

fit_arms <- function(formula, data, weighted) {
  formula <- update(formula, arm_terms)
  if (weighted) {
    lmer(formula, data = data, weights = weight, REML = TRUE, control = control)
  } else {
    lmer(formula, data = data, REML = TRUE, control = control)
  }
}

# Coefficients (lmerTest's summary: estimate, SE, Satterthwaite df, p), the covariance,
# variance components by arm (VarCorr), θ and REMLcrit.
describe <- function(fit) {
  table <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  theta <- getME(fit, "theta")
  list(
    terms = rownames(table), coef = unname(table[, "Estimate"]),
    vcov = unname(as.matrix(vcov(fit))), se = unname(table[, "Std. Error"]),
    df = unname(table[, "df"]), p_value = unname(table[, "Pr(>|t|)"]),
    theta_treated = unname(theta[grepl('"1"', names(theta))]),
    theta_comparison = unname(theta[grepl('"0"', names(theta))]),
    var_treated = vc$vcov[vc$var1 %in% 'dummy(treat, "1")'],
    var_comparison = vc$vcov[vc$var1 %in% 'dummy(treat, "0")'],
    var_residual = vc$vcov[vc$grp == "Residual"],
    reml_criterion = unname(REMLcrit(fit))
  )
}

# Each grade's effect (treat, treat + treat:grade4, treat + treat:grade5) with its Satterthwaite
# t-test and 95% CI, and the F-test that the effects are equal (lmerTest's contest, whose
# multi-row Satterthwaite F is the one SAS's PROC MIXED reports).
by_grade <- function(fit) {
  names <- names(fixef(fit))
  row <- function(terms) as.numeric(names %in% terms)
  contrasts <- list(row("treat"), row(c("treat", "treat:grade4")), row(c("treat", "treat:grade5")))
  tests <- lapply(contrasts, function(L) contest(fit, L, joint = FALSE, confint = TRUE))
  field <- function(name) vapply(tests, function(t) t[[name]], numeric(1))
  f <- contest(fit, rbind(row("treat:grade4"), row("treat:grade5")), joint = TRUE)
  list(
    groups = c("3", "4", "5"), estimate = field("Estimate"), se = field("Std. Error"),
    df = field("df"), ci_low = field("lower"), ci_high = field("upper"),
    p_value = field("Pr(>|t|)"),
    test = list(
      statistic = f[["F value"]], df1 = f[["NumDF"]], df2 = f[["DenDF"]],
      p_value = f[["Pr(>F)"]]
    )
  )
}

results <- list()
f_main <- outcome ~ treat + baseline + female + grade
results$arms <- describe(fit_arms(f_main, data, weighted = FALSE))
results$arms_weighted <- describe(fit_arms(f_main, data, weighted = TRUE))
fit_i <- fit_arms(outcome ~ treat * grade + baseline + female, data, weighted = TRUE)
results$arms_interaction <- c(describe(fit_i), list(groups = by_grade(fit_i)))

# baseline_x2 = 2 × baseline: lme4 drops it ("fixed-effect model matrix is rank deficient")
f_planted <- outcome ~ treat + baseline + band + baseline_x2
results$planted <- describe(fit_arms(f_planted, arms, weighted = TRUE))
results$planted_unweighted <- describe(fit_arms(f_planted, arms, weighted = FALSE))
results$few_clusters <- describe(fit_arms(outcome ~ treat + baseline + band, few, weighted = TRUE))

versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  Matrix = as.character(packageVersion("Matrix"))
)
write(
  toJSON(list(versions = versions, results = results), digits = NA, auto_unbox = TRUE, pretty = TRUE),
  file.path(out_dir, "mixed_arms.json")
)
