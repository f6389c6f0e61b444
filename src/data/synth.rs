//! Seeded generator of synthetic card transactions.
//!
//! No real fraud data set can be shipped, so robcert generates one with the structure model-risk
//! teams know: a customer's usual spend, time of day, transaction velocity, merchant category
//! and risk, device / geo mismatch, account age, distance from home, card-present. About 2% of
//! rows are fraud, drawn from three patterns that leave different traces:
//!
//! * **card testing**: many tiny card-not-present charges at risky online merchants, in bursts;
//! * **account takeover**: a new device, often abroad, after failed logins, at night, at several
//!   times the customer's usual amount;
//! * **bust-out**: an aged-in account suddenly spending large amounts on electronics and travel.
//!
//! Legitimate look-alikes (travellers abroad, big planned purchases, new phones) and a little label
//! noise keep a model useful but imperfect. The same `(rows, seed)` always gives the same table.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};
use std::io::Write;

/// Merchant categories, written as the one-hot group `mcc_*`.
pub const MERCHANT_CATEGORIES: [&str; 6] = [
    "grocery",
    "fuel",
    "restaurant",
    "electronics",
    "travel",
    "online_services",
];

/// Countries relative to the card holder, written as the one-hot group `country_*`.
pub const COUNTRY_GROUPS: [&str; 3] = ["home", "neighbour", "foreign"];

/// Fraud patterns (the `pattern` column is not written: it would leak the label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FraudPattern {
    CardTesting,
    AccountTakeover,
    BustOut,
}

/// Generator settings. `fraud_rate` is the prior before label noise.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub rows: usize,
    pub seed: u64,
    pub fraud_rate: f64,
    /// Probability that a row's label is flipped (investigations miss fraud; disputes are wrong).
    pub label_noise: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            rows: 100_000,
            seed: 1,
            fraud_rate: 0.02,
            label_noise: 0.001,
        }
    }
}

/// One generated transaction before one-hot encoding.
#[derive(Clone, Debug)]
pub struct Transaction {
    pub amount: f64,
    pub hour: f64,
    pub velocity_1h: f64,
    pub velocity_24h: f64,
    pub merchant_category: usize,
    pub merchant_risk: f64,
    pub device_mismatch: bool,
    pub geo_mismatch: bool,
    pub account_age_days: f64,
    pub distance_from_home_km: f64,
    pub card_present: bool,
    pub avg_amount_30d: f64,
    pub failed_logins_24h: f64,
    pub country: usize,
    pub is_fraud: bool,
    pub pattern: Option<FraudPattern>,
}

/// Column names in the order `write_csv` writes them: `txn_id`, the features, then `is_fraud`.
pub fn header() -> Vec<String> {
    let mut h: Vec<String> = [
        "txn_id",
        "amount",
        "hour",
        "velocity_1h",
        "velocity_24h",
        "merchant_risk",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(MERCHANT_CATEGORIES.iter().map(|m| format!("mcc_{m}")));
    for s in [
        "device_mismatch",
        "geo_mismatch",
        "account_age_days",
        "distance_from_home_km",
        "card_present",
        "avg_amount_30d",
        "failed_logins_24h",
    ] {
        h.push(s.to_string());
    }
    h.extend(COUNTRY_GROUPS.iter().map(|c| format!("country_{c}")));
    h.push("is_fraud".to_string());
    h
}

/// Generates `config.rows` transactions. Row `i` depends only on `(seed, i)`, so a prefix of a
/// larger table equals the smaller table and generation parallelises without changing results.
pub fn generate(config: &SynthConfig) -> Vec<Transaction> {
    (0..config.rows)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(i as u64);
            transaction(&mut rng, config)
        })
        .collect()
}

fn bernoulli(rng: &mut impl Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// An hour of day, normally distributed around `mean` and wrapped into [0, 24).
fn hour_around(rng: &mut impl Rng, mean: f64, sd: f64) -> f64 {
    let h: f64 = Normal::new(mean, sd)
        .expect("finite normal parameters")
        .sample(rng);
    h.rem_euclid(24.0)
}

fn poisson(rng: &mut impl Rng, mean: f64) -> f64 {
    Poisson::new(mean)
        .expect("positive Poisson mean")
        .sample(rng)
}

fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.ln(), sigma)
        .expect("finite lognormal parameters")
        .sample(rng)
}

/// Merchant risk score given the category (online and electronics merchants see more fraud);
/// with probability `p_risky` the merchant is a known risky one.
fn merchant_risk(rng: &mut impl Rng, category: usize, p_risky: f64) -> f64 {
    let risky = bernoulli(rng, p_risky);
    let base = [0.05, 0.08, 0.06, 0.22, 0.18, 0.30][category];
    let shift = if risky { uniform(rng, 0.15, 0.45) } else { 0.0 };
    let noise = Normal::new(0.0, 0.06).unwrap().sample(rng);
    (base + shift + noise).clamp(0.0, 1.0)
}

fn transaction(rng: &mut ChaCha8Rng, config: &SynthConfig) -> Transaction {
    // The card holder: account age, usual spend, home country mix.
    let account_age_days = lognormal(rng, 700.0, 0.9).clamp(1.0, 7_300.0).round();
    let avg_amount_30d = lognormal(rng, 55.0, 0.7).clamp(3.0, 3_000.0);
    let fraud = bernoulli(rng, config.fraud_rate);
    let pattern = if fraud {
        let u = rng.random::<f64>();
        Some(if u < 0.40 {
            FraudPattern::CardTesting
        } else if u < 0.75 {
            FraudPattern::AccountTakeover
        } else {
            FraudPattern::BustOut
        })
    } else {
        None
    };
    let mut t = match pattern {
        None => legit(rng, account_age_days, avg_amount_30d),
        Some(p) => fraudulent(rng, p, account_age_days, avg_amount_30d),
    };
    t.amount = (t.amount * 100.0).round() / 100.0;
    t.hour = (t.hour * 100.0).round() / 100.0;
    t.merchant_risk = (t.merchant_risk * 1000.0).round() / 1000.0;
    t.distance_from_home_km = (t.distance_from_home_km * 10.0).round() / 10.0;
    t.avg_amount_30d = (t.avg_amount_30d * 100.0).round() / 100.0;
    t.is_fraud = fraud != bernoulli(rng, config.label_noise);
    t
}

fn legit(rng: &mut ChaCha8Rng, account_age_days: f64, avg_amount_30d: f64) -> Transaction {
    let category = rng.random_range(0..MERCHANT_CATEGORIES.len());
    // Daytime-heavy hour distribution.
    let hour = hour_around(rng, 14.0, 4.5);
    let traveller = bernoulli(rng, 0.03);
    let big_purchase = bernoulli(rng, 0.04);
    let new_phone = bernoulli(rng, 0.03);
    let amount_factor = if big_purchase {
        uniform(rng, 3.0, 12.0)
    } else {
        lognormal(rng, 1.0, 0.6)
    };
    let card_present = category != 5 && bernoulli(rng, 0.7);
    let country = if traveller {
        if bernoulli(rng, 0.5) { 1 } else { 2 }
    } else {
        0
    };
    Transaction {
        amount: (avg_amount_30d * amount_factor).max(0.5),
        hour,
        velocity_1h: poisson(rng, 0.4),
        velocity_24h: poisson(rng, 2.5),
        merchant_category: category,
        merchant_risk: merchant_risk(rng, category, 0.05),
        device_mismatch: new_phone || bernoulli(rng, 0.02),
        geo_mismatch: traveller || bernoulli(rng, 0.01),
        account_age_days,
        distance_from_home_km: if traveller {
            lognormal(rng, 900.0, 0.8)
        } else {
            lognormal(rng, 8.0, 1.0)
        },
        card_present,
        avg_amount_30d,
        failed_logins_24h: if bernoulli(rng, 0.05) {
            poisson(rng, 1.0) + 1.0
        } else {
            0.0
        },
        country,
        is_fraud: false,
        pattern: None,
    }
}

fn fraudulent(
    rng: &mut ChaCha8Rng,
    pattern: FraudPattern,
    account_age_days: f64,
    avg_amount_30d: f64,
) -> Transaction {
    match pattern {
        FraudPattern::CardTesting => {
            let category = if bernoulli(rng, 0.8) { 5 } else { 3 };
            Transaction {
                amount: uniform(rng, 0.5, 6.0),
                hour: uniform(rng, 0.0, 24.0),
                velocity_1h: poisson(rng, 6.0) + 2.0,
                velocity_24h: poisson(rng, 14.0) + 4.0,
                merchant_category: category,
                merchant_risk: merchant_risk(rng, category, 0.6),
                device_mismatch: bernoulli(rng, 0.5),
                geo_mismatch: bernoulli(rng, 0.2),
                account_age_days,
                distance_from_home_km: lognormal(rng, 30.0, 1.5),
                card_present: false,
                avg_amount_30d,
                failed_logins_24h: poisson(rng, 0.3),
                country: if bernoulli(rng, 0.3) { 2 } else { 0 },
                is_fraud: true,
                pattern: Some(pattern),
            }
        }
        FraudPattern::AccountTakeover => {
            let category = [3, 4, 5][rng.random_range(0..3)];
            let abroad = bernoulli(rng, 0.55);
            Transaction {
                amount: avg_amount_30d * uniform(rng, 2.0, 10.0),
                hour: hour_around(rng, 3.0, 2.5),
                velocity_1h: poisson(rng, 1.5),
                velocity_24h: poisson(rng, 4.0),
                merchant_category: category,
                merchant_risk: merchant_risk(rng, category, 0.3),
                device_mismatch: bernoulli(rng, 0.85),
                geo_mismatch: abroad || bernoulli(rng, 0.3),
                account_age_days,
                distance_from_home_km: if abroad {
                    lognormal(rng, 2_500.0, 0.7)
                } else {
                    lognormal(rng, 60.0, 1.2)
                },
                card_present: false,
                avg_amount_30d,
                failed_logins_24h: poisson(rng, 3.0) + 1.0,
                country: if abroad { 2 } else { 0 },
                is_fraud: true,
                pattern: Some(pattern),
            }
        }
        FraudPattern::BustOut => {
            let category = if bernoulli(rng, 0.6) { 3 } else { 4 };
            Transaction {
                amount: avg_amount_30d * uniform(rng, 6.0, 30.0),
                hour: hour_around(rng, 15.0, 4.0),
                velocity_1h: poisson(rng, 2.0),
                velocity_24h: poisson(rng, 9.0) + 2.0,
                merchant_category: category,
                merchant_risk: merchant_risk(rng, category, 0.0),
                device_mismatch: bernoulli(rng, 0.1),
                geo_mismatch: bernoulli(rng, 0.1),
                account_age_days: uniform(rng, 60.0, 420.0).round(),
                distance_from_home_km: lognormal(rng, 15.0, 1.0),
                card_present: bernoulli(rng, 0.5),
                avg_amount_30d,
                failed_logins_24h: 0.0,
                country: if bernoulli(rng, 0.8) { 0 } else { 1 },
                is_fraud: true,
                pattern: Some(pattern),
            }
        }
    }
}

fn flag(b: bool) -> u8 {
    u8::from(b)
}

/// Writes transactions as CSV with `header()`; `first_id` numbers the `txn_id` column.
pub fn write_csv(
    out: &mut impl Write,
    rows: &[Transaction],
    first_id: usize,
) -> std::io::Result<()> {
    writeln!(out, "{}", header().join(","))?;
    for (i, t) in rows.iter().enumerate() {
        write!(
            out,
            "{},{:.2},{:.2},{},{},{:.3}",
            first_id + i,
            t.amount,
            t.hour,
            t.velocity_1h,
            t.velocity_24h,
            t.merchant_risk
        )?;
        for c in 0..MERCHANT_CATEGORIES.len() {
            write!(out, ",{}", flag(c == t.merchant_category))?;
        }
        write!(
            out,
            ",{},{},{},{:.1},{},{:.2},{}",
            flag(t.device_mismatch),
            flag(t.geo_mismatch),
            t.account_age_days,
            t.distance_from_home_km,
            flag(t.card_present),
            t.avg_amount_30d,
            t.failed_logins_24h
        )?;
        for c in 0..COUNTRY_GROUPS.len() {
            write!(out, ",{}", flag(c == t.country))?;
        }
        writeln!(out, ",{}", flag(t.is_fraud))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_rows_and_prefixes_agree() {
        let a = generate(&SynthConfig {
            rows: 500,
            seed: 9,
            ..Default::default()
        });
        let b = generate(&SynthConfig {
            rows: 800,
            seed: 9,
            ..Default::default()
        });
        let mut wa = Vec::new();
        let mut wb = Vec::new();
        write_csv(&mut wa, &a, 0).unwrap();
        write_csv(&mut wb, &b[..500], 0).unwrap();
        assert_eq!(wa, wb);
        let c = generate(&SynthConfig {
            rows: 500,
            seed: 10,
            ..Default::default()
        });
        let mut wc = Vec::new();
        write_csv(&mut wc, &c, 0).unwrap();
        assert_ne!(wa, wc, "a different seed must give a different table");
    }

    #[test]
    fn fraud_rate_is_between_one_and_three_percent_with_all_patterns() {
        let rows = generate(&SynthConfig {
            rows: 50_000,
            seed: 3,
            ..Default::default()
        });
        let fraud = rows.iter().filter(|t| t.is_fraud).count() as f64 / rows.len() as f64;
        assert!((0.01..=0.03).contains(&fraud), "fraud rate {fraud}");
        for p in [
            FraudPattern::CardTesting,
            FraudPattern::AccountTakeover,
            FraudPattern::BustOut,
        ] {
            let n = rows.iter().filter(|t| t.pattern == Some(p)).count();
            assert!(n > 100, "pattern {p:?} has only {n} rows");
        }
    }

    #[test]
    fn header_has_at_least_sixteen_columns_and_one_hot_groups_sum_to_one() {
        assert!(header().len() >= 16);
        let rows = generate(&SynthConfig {
            rows: 200,
            seed: 4,
            ..Default::default()
        });
        let mut out = Vec::new();
        write_csv(&mut out, &rows, 0).unwrap();
        let text = String::from_utf8(out).unwrap();
        let h = header();
        let mcc: Vec<usize> = (0..h.len()).filter(|&i| h[i].starts_with("mcc_")).collect();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), h.len());
            let s: u32 = mcc.iter().map(|&i| f[i].parse::<u32>().unwrap()).sum();
            assert_eq!(
                s, 1,
                "merchant one-hot group must have exactly one 1: {line}"
            );
        }
    }
}
