//! `specdrop check` names everything to fix in one run: the config's
//! mistakes, and the folders, storage, database and ledger of every part
//! of the config that could still be read.

use crate::support::*;

/// The report line that starts with `key`, after the indentation.
fn line_of<'a>(run: &'a Run, key: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in:\n{}\n{}", run.stdout, run.stderr))
}

#[tokio::test]
async fn check_names_five_mistakes_of_five_kinds_in_one_run() {
    let env = Env::new(Backend::Sqlite).await;
    for file in ["var/state-file", "var/imglib-file", "var/bryo-archive-file"] {
        env.write_file(file, b"a file where a folder is wanted");
    }
    std::fs::create_dir_all(env.path("var/drop/bryo")).expect("create the second drop folder");
    let port = free_port();
    // Env's config with the lines numbered as asserted below: an unknown
    // key ends the first collection (line 16), a second follows it.
    env.write_config(
        r#"unmatchd = "park"

[[collection]]
code = "MICH-B"
collid = 2
drop = "var/drop/bryo"
pattern = '^MICH-B-(\d{7})\D*'
archive = "var/bryo-archive-file""#,
    );
    env.edit_config("state_dir = \"var/state\"", "state_dir = \"var/state-file\"");
    env.edit_config(&env.db_url.clone(), &format!("mysql://root@127.0.0.1:{port}/test"));
    env.edit_config("root = \"var/www/imglib\"", "root = \"var/imglib-file\"");
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 2, "the config has a mistake:\n{}\n{}", run.stdout, run.stderr);
    let config = line_of(&run, "collection[0].unmatchd (line 16)");
    assert!(config.contains("unknown field `unmatchd`"), "{}", run.stdout);
    for (key, line, says) in [
        ("collection[1].archive:", 23, "is not a folder"),
        ("storage.root:", 7, "is not a folder"),
        ("database.url:", 4, port.to_string().as_str()),
        ("state_dir:", 1, "is not a folder"),
    ] {
        let found = line_of(&run, key);
        assert!(
            found.contains(says) && found.ends_with(&format!("(line {line})")),
            "{key} should say {says:?} at line {line}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("4 problem(s)"), "{}", run.stdout);
    let note = line_of(&run, "collection[0].drop:");
    assert!(
        note.contains("will be created at the first run") && note.ends_with("(line 13)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 note(s)"), "{}", run.stdout);
    assert!(!env.path("var/drop/mich").exists(), "check creates nothing");
}

#[tokio::test]
async fn a_missing_drop_folder_is_a_note_and_all_is_still_good() {
    let env = Env::new(Backend::Sqlite).await;
    let run = env.cli(&["check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("all good"), "{}", run.stdout);
    assert!(
        line_of(&run, "collection[0].drop:").contains("will be created at the first run"),
        "{}",
        run.stdout
    );
    assert!(!env.path("var/drop/mich").exists(), "check creates nothing");
}

#[tokio::test]
async fn check_names_an_unreadable_ledger_and_every_collection_the_portal_lacks() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file("var/state/ledger.db", b"not a SQLite database");
    env.edit_config("collid = 2", "collid = 98");
    let text = std::fs::read_to_string(env.path("specdrop.toml")).expect("read specdrop.toml");
    let second = text
        .split_once("[[collection]]")
        .map(|(_, c)| {
            c.replace("MICH-V", "MICH-B")
                .replace("98", "99")
                .replace("mich", "bryo")
        })
        .expect("the config has a collection");
    env.write_file("specdrop.toml", format!("{text}\n[[collection]]{second}").as_bytes());

    let run = env.cli(&["check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        line_of(&run, "state_dir:").contains("ledger") && line_of(&run, "state_dir:").ends_with("(line 1)"),
        "{}",
        run.stdout
    );
    for (key, collid) in [("collection[0].collid", 98), ("collection[1].collid", 99)] {
        assert!(line_of(&run, key).contains(&collid.to_string()), "{}", run.stdout);
    }
    assert!(run.stdout.contains("3 problem(s)"), "{}", run.stdout);
}

#[tokio::test]
async fn check_creates_no_embedded_portal() {
    // The packaged config, unedited, points at an embedded portal beside
    // it that does not exist: a `check` that connected made it (and a
    // package purge then found /etc/specdrop not empty).
    let env = Env::new(Backend::Sqlite).await;
    let missing = env.path("var/new-portal.db");
    env.edit_config(&env.db_url, &format!("sqlite://{}", missing.display()));
    let run = env.cli(&["check"]);
    assert!(!missing.exists(), "check made {}", missing.display());
    assert!(
        line_of(&run, "database.url").contains("does not exist yet"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 0, "a note, not a problem: {}", run.stdout);
}
