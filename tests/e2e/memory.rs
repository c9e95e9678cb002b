//! `workers.memory_mb`: a sheet larger than the whole budget is derived
//! alone, not refused; a budget too small to mean anything is a config
//! mistake named by its key.

use crate::support::*;

#[tokio::test]
async fn sheets_over_the_memory_budget_are_derived_one_at_a_time() {
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config("[database]", "[workers]\nthreads = 2\nmemory_mb = 64\n\n[database]");
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    env.drop_sample(FULL_1449838, "MICH-V-1390993.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [2, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    // A 3753×5634 sheet holds about 152 MB while it is derived.
    assert_eq!(
        run.stderr
            .matches("a 152 MB sheet is more than workers.memory_mb = 64")
            .count(),
        2,
        "{}",
        run.stderr
    );

    env.edit_config("memory_mb = 64", "memory_mb = 10");
    let check = env.cli(&["check"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(check.stdout.contains("workers.memory_mb"), "{}", check.stdout);
}
