//! The mapper against real databases: a fresh MariaDB database per test
//! (Symbiota DDL + seed) and the embedded SQLite one, same assertions.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../../../tests/support/mariadb.rs"]
mod mariadb;

use specdrop_mapper::{
    Action, CollectionInfo, ExistingImage, LinkRequest, Lookup, MapperError, MatchRules, MediaFields, MediaUrls,
    Portal, SchemaChoice, Unmatched,
};
use sqlx::{AnyConnection, Connection, Row};

/// A seeded portal of either kind; keeps its database alive.
struct Seeded {
    portal: Portal,
    url: String,
    _mariadb: Option<mariadb::TestDb>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Seeded {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("portal.db").display());
    let portal = Portal::connect(&url, SchemaChoice::Auto)
        .await
        .expect("a fresh embedded portal is created");
    portal
        .execute_script(mariadb::SEED)
        .await
        .expect("the seed loads into the embedded portal");
    Seeded {
        portal,
        url,
        _mariadb: None,
        _dir: Some(dir),
    }
}

async fn mariadb() -> Seeded {
    seeded_from(mariadb::TestDb::seeded().await).await
}

async fn legacy() -> Seeded {
    seeded_from(mariadb::TestDb::seeded_legacy().await).await
}

async fn seeded_from(db: mariadb::TestDb) -> Seeded {
    let portal = Portal::connect(&db.url, SchemaChoice::Auto)
        .await
        .expect("the seeded test database accepts connections");
    Seeded {
        portal,
        url: db.url.clone(),
        _mariadb: Some(db),
        _dir: None,
    }
}

impl Seeded {
    async fn conn(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&self.url)
            .await
            .expect("a second connection to the test database")
    }

    async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.conn().await;
        let row = sqlx::query(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.try_get::<i64, _>(0).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::sqlite().await).await;
            }
            #[tokio::test]
            async fn mariadb() {
                super::$name(super::mariadb().await).await;
            }
            #[tokio::test]
            async fn mariadb_legacy_images() {
                super::$name(super::legacy().await).await;
            }
        }
    };
}

async fn lookups_follow_the_match_rules(db: Seeded) {
    let p = &db.portal;
    let plain = MatchRules::default();
    let other = MatchRules {
        other_catalog_numbers: true,
        ..plain
    };
    let found = |occid| Lookup::Found(specdrop_mapper::lookup::Occurrence { occid, tid: None });
    let cases: [(i64, &str, MatchRules, Lookup); 11] = [
        (1, "ASU-L-0001234", plain, found(101)),
        (1, "ASU-L-0002001", plain, Lookup::Ambiguous(vec![104, 105])),
        (2, "1390992", plain, found(201)),
        (2, "0001390993", plain, found(202)),
        (2, "45678", plain, found(203)),
        (
            2,
            "45678",
            MatchRules {
                leading_zeros: false,
                ..plain
            },
            Lookup::NotFound,
        ),
        (1, "ASU-L-0003100", plain, Lookup::NotFound),
        (1, "ASU-L-0003100", other, found(106)),
        (1, "ASU0099887", other, found(107)),
        (2, "MICH-V-1390992", other, found(201)),
        (1, "1390992", plain, Lookup::NotFound),
    ];
    for (collid, number, rules, expect) in cases {
        let got = p
            .find(collid, number, rules)
            .await
            .unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(got, expect, "collid {collid}, {number}, {rules:?}");
    }
}
on_both!(lookups_follow_the_match_rules);

static NO_FIELDS: MediaFields = MediaFields {
    creator: None,
    copyright: None,
    rights: None,
    access_rights: None,
};

/// A request for derivatives named after `name` (`NAME.jpg`, `NAME_med.jpg`...).
fn request<'a>(collection: &'a CollectionInfo, number: &'a str, md5: &'a str, name: &'a str) -> LinkRequest<'a> {
    LinkRequest {
        collection,
        catalog_number: number,
        key: specdrop_mapper::Key::CatalogNumber,
        rules: MatchRules::default(),
        unmatched: Unmatched::Park,
        existing: ExistingImage::Add,
        fields: &NO_FIELDS,
        stem: name,
        urls: MediaUrls {
            url: format!("/imglib/MICH_Vascular/01390/{name}_med.jpg"),
            thumbnail_url: Some(format!("/imglib/MICH_Vascular/01390/{name}_tn.jpg")),
            original_url: Some(format!("/imglib/MICH_Vascular/01390/{name}.jpg")),
        },
        md5: Some(md5),
        // Leaked: a test-only way to give the request a name of its own.
        source_name: Box::leak(format!("{name}.jpg").into_boxed_str()),
        size: Some((3200, 4804)),
        format: "image/jpeg",
        meta: specdrop_mapper::MediaValues::default(),
    }
}

impl Seeded {
    /// `media` or `images`, and its id column.
    fn table(&self) -> (&'static str, &'static str) {
        let m = self.portal.media_table();
        (m.table, m.id)
    }

    async fn images_of(&self, occid: i64) -> i64 {
        let (table, _) = self.table();
        self.count(&format!("SELECT COUNT(*) FROM {table} WHERE occid = {occid}"))
            .await
    }
}

async fn link(p: &Portal, req: &LinkRequest<'_>) -> specdrop_mapper::Linked {
    p.link(req).await.expect("the link is made")
}

async fn link_writes_symbiotas_columns_once(db: Seeded) {
    let p = &db.portal;
    let (table, id) = db.table();
    let mich = p.collection(2).await.expect("the seed has collid 2");
    assert_eq!(
        (mich.institution_code.as_str(), mich.collection_code.as_deref()),
        ("MICH", Some("Vascular"))
    );

    let first = link(
        p,
        &request(&mich, "1390992", "0123456789abcdef0123456789abcdef", "1390992"),
    )
    .await;
    let Action::Inserted { media_id } = first.action else {
        panic!("{first:?}")
    };
    assert_eq!((first.occid, first.created_occurrence), (201, false));

    let mut conn = db.conn().await;
    let sql = format!(
        "SELECT url, thumbnailUrl, originalUrl, occid, format, imageType, owner, mediaMD5, \
         sourceIdentifier, recordID, sortSequence, pixelXDimension FROM {table} WHERE {id} = ?"
    );
    let row = sqlx::query(&sql)
        .bind(media_id)
        .fetch_one(&mut conn)
        .await
        .expect("the linked row is there");
    let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
    assert_eq!(text(0), "/imglib/MICH_Vascular/01390/1390992_med.jpg");
    assert_eq!(text(1), "/imglib/MICH_Vascular/01390/1390992_tn.jpg");
    assert_eq!(text(2), "/imglib/MICH_Vascular/01390/1390992.jpg");
    assert_eq!(row.try_get::<i64, _>(3).ok(), Some(201));
    assert_eq!((text(4).as_str(), text(5).as_str()), ("image/jpeg", "specimen"));
    assert_eq!(text(6), "University of Michigan Herbarium - Vascular Plants");
    assert_eq!(text(7), "0123456789abcdef0123456789abcdef");
    assert_eq!(text(8), "filename: 1390992.jpg");
    assert_eq!(text(9).len(), 36, "recordID is a UUID");
    assert_eq!(row.try_get::<i64, _>(10).ok(), Some(50));
    assert_eq!(row.try_get::<i64, _>(11).ok(), Some(3200));
    if table == "media" {
        let sql = format!("SELECT COUNT(*) FROM media WHERE mediaID = {media_id} AND mediaType = 'image'");
        assert_eq!(db.count(&sql).await, 1);
    }

    // The same content again (as after a crash before the ledger was
    // written): the existing row is found, no second row.
    let again = link(
        p,
        &request(&mich, "1390992", "0123456789abcdef0123456789abcdef", "1390992_1"),
    )
    .await;
    assert_eq!(again.action, Action::AlreadyThere { media_id });

    // A second, different image of the same specimen comes after it.
    let second = link(
        p,
        &request(&mich, "1390992", "ffffffffffffffffffffffffffffffff", "1390992_b"),
    )
    .await;
    assert!(
        matches!(second.action, Action::Inserted { media_id: m } if m != media_id),
        "{second:?}"
    );
    assert_eq!(db.images_of(201).await, 2);
    assert_eq!(
        db.count(&format!("SELECT MAX(sortSequence) FROM {table} WHERE occid = 201"))
            .await,
        51
    );
}
on_both!(link_writes_symbiotas_columns_once);

async fn skeletal_records_are_made_once_per_number(db: Seeded) {
    let p = &db.portal;
    let (table, _) = db.table();
    let mich = p.collection(2).await.expect("the seed has collid 2");
    let hostile = "X'); DROP TABLE media; --";
    for (i, md5) in ["a", "b"].into_iter().enumerate() {
        let name = format!("x{i}");
        let mut req = request(&mich, hostile, md5, &name);
        req.unmatched = Unmatched::Skeletal;
        let linked = link(p, &req).await;
        assert_eq!(
            linked.created_occurrence,
            i == 0,
            "only the first image creates the record"
        );
    }
    assert_eq!(
        db.count("SELECT COUNT(*) FROM omoccurrences WHERE catalogNumber = 'X''); DROP TABLE media; --' AND collid = 2 AND processingStatus = 'unprocessed' AND recordID IS NOT NULL AND dateEntered IS NOT NULL").await,
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM {table} WHERE sourceIdentifier IS NOT NULL"
        ))
        .await,
        2
    );

    // Park policy: a number with no record is an error at link time.
    let parked = p.link(&request(&mich, "9999999", "c", "y")).await;
    assert!(matches!(parked, Err(MapperError::Vanished { .. })), "{parked:?}");
}
on_both!(skeletal_records_are_made_once_per_number);

async fn too_long_values_are_refused_before_writing(db: Seeded) {
    let p = &db.portal;
    let (table, _) = db.table();
    let mich = p.collection(2).await.expect("the seed has collid 2");
    let long = "n".repeat(260);
    match p.link(&request(&mich, "1390992", "d", &long)).await {
        Err(e @ MapperError::TooLong { .. }) => assert!(e.to_string().contains("url"), "{e}"),
        other => panic!("expected TooLong, got {other:?}"),
    }
    let mut req = request(&mich, &long[..40], "e", "z");
    req.unmatched = Unmatched::Skeletal;
    assert!(matches!(
        p.link(&req).await,
        Err(MapperError::TooLong {
            column: "catalogNumber",
            ..
        })
    ));
    let fields = MediaFields {
        creator: Some("c".repeat(101)),
        ..NO_FIELDS.clone()
    };
    let mut req = request(&mich, "1390992", "f", "ok");
    req.fields = &fields;
    let err = p.link(&req).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("creator") || err.contains("photographer"), "{err}");
    assert_eq!(
        db.count(&format!("SELECT COUNT(*) FROM {table}")).await,
        1,
        "only the seed's row"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM omoccurrences").await, 12);
}
on_both!(too_long_values_are_refused_before_writing);

async fn configured_fields_are_written(db: Seeded) {
    let p = &db.portal;
    let (table, id) = db.table();
    let creator_column = p.media_table().creator;
    let mich = p.collection(2).await.expect("the seed has collid 2");
    let fields = MediaFields {
        creator: Some("MICH imaging team".into()),
        copyright: Some("Regents of the University of Michigan".into()),
        rights: Some("http://creativecommons.org/licenses/by-nc/4.0/".into()),
        access_rights: None,
    };
    let mut req = request(&mich, "1390993", "g", "1390993");
    req.fields = &fields;
    let media_id = link(p, &req).await.media_id().unwrap_or(0);
    let sql = format!(
        "SELECT COUNT(*) FROM {table} WHERE {id} = {media_id} AND {creator_column} = 'MICH imaging team' \
         AND copyright = 'Regents of the University of Michigan' AND rights LIKE 'http://creativecommons.org/%' \
         AND accessRights IS NULL"
    );
    assert_eq!(db.count(&sql).await, 1);
}
on_both!(configured_fields_are_written);

async fn existing_image_skip_and_replace(db: Seeded) {
    let p = &db.portal;
    let (table, id) = db.table();
    let asu = p.collection(1).await.expect("the seed has collid 1");

    // 103 already has an image: skip leaves it alone.
    let mut req = request(&asu, "ASU-L-0001236", "h", "ASU-L-0001236_b");
    req.existing = ExistingImage::Skip;
    assert_eq!(link(p, &req).await.action, Action::Skipped { images: 1 });
    assert_eq!(db.images_of(103).await, 1);
    // 101 has none: skip still links the first image.
    let mut req = request(&asu, "ASU-L-0001234", "i", "ASU-L-0001234");
    req.existing = ExistingImage::Skip;
    assert!(matches!(link(p, &req).await.action, Action::Inserted { .. }));

    // The seed's image of 103 has the Symbiota-loader URLs of
    // ASU-L-0001236.jpg; a new file of that name replaces it in place.
    let (old_record,): (String,) = {
        let mut conn = db.conn().await;
        let row = sqlx::query(&format!("SELECT recordID FROM {table} WHERE {id} = 5001"))
            .fetch_one(&mut conn)
            .await
            .expect("the seed has image row 5001");
        (row.try_get(0).unwrap_or_default(),)
    };
    let mut req = request(&asu, "ASU-L-0001236", "j", "ASU-L-0001236");
    req.urls.url = "/imglib/ASU_Lichens/ASU-L-0001/ASU-L-0001236_1_med.jpg".into();
    req.existing = ExistingImage::Replace;
    let replaced = link(p, &req).await;
    match &replaced.action {
        Action::Replaced { media_id, old } => {
            assert_eq!(*media_id, 5001, "the row keeps its id");
            assert_eq!(old.url, "/imglib/ASU_Lichens/ASU-L-0001/ASU-L-0001236_med.jpg");
        }
        other => panic!("expected Replaced, got {other:?}"),
    }
    assert_eq!(db.images_of(103).await, 1);
    let sql = format!(
        "SELECT COUNT(*) FROM {table} WHERE {id} = 5001 AND mediaMD5 = 'j' AND recordID = '{old_record}' \
         AND url = '/imglib/ASU_Lichens/ASU-L-0001/ASU-L-0001236_1_med.jpg'"
    );
    assert_eq!(db.count(&sql).await, 1, "URLs updated, recordID kept");

    // A file of another name is added beside it, even under replace.
    let mut req = request(&asu, "ASU-L-0001236", "k", "ASU-L-0001236_b");
    req.existing = ExistingImage::Replace;
    assert!(matches!(link(p, &req).await.action, Action::Inserted { .. }));
    assert_eq!(db.images_of(103).await, 2);
}
on_both!(existing_image_skip_and_replace);

/// A file is in use when any row names it in any of the forms asked: the
/// seed's row 5001 carries the host-relative form of a file also asked
/// about by its absolute URL.
async fn a_file_is_in_use_in_any_url_form(db: Seeded) {
    let p = &db.portal;
    let relative = "/imglib/ASU_Lichens/ASU-L-0001/ASU-L-0001236_med.jpg";
    let absolute = format!("https://portal.example{relative}");
    assert!(
        !p.refers_to(&absolute).await.expect("query"),
        "the absolute form alone misses it"
    );
    assert!(
        p.points_at_any(&[absolute.clone(), relative.to_string()])
            .await
            .expect("query"),
        "either form finds it"
    );
    let other = "/imglib/ASU_Lichens/ASU-L-0001/ASU-L-0009999_med.jpg";
    assert!(!p.points_at_any(&[other.to_string()]).await.expect("query"));
    assert!(!p.points_at_any(&[]).await.expect("no forms, no row"));
}
on_both!(a_file_is_in_use_in_any_url_form);

#[tokio::test]
async fn column_lengths_are_read_from_the_server() {
    let db = mariadb::TestDb::seeded().await;
    db.run("ALTER TABLE media MODIFY url varchar(300) NULL").await;
    let seeded = seeded_from(db).await;
    let mich = seeded.portal.collection(2).await.expect("the seed has collid 2");
    let long = "n".repeat(260);
    let mut req = request(&mich, "1390992", "l", "x");
    req.urls.url = format!("/imglib/{long}.jpg");
    assert!(
        matches!(link(&seeded.portal, &req).await.action, Action::Inserted { .. }),
        "url fits varchar(300)"
    );
}

#[tokio::test]
async fn after_batch_procedure_is_called_with_the_collid() {
    let db = mariadb::TestDb::seeded().await;
    db.run("CREATE TABLE batch_log (collid INT)").await;
    db.run("CREATE PROCEDURE log_batch(IN c INT) INSERT INTO batch_log VALUES (c)")
        .await;
    let seeded = seeded_from(db).await;
    seeded
        .portal
        .call_procedure("log_batch", 2)
        .await
        .expect("the procedure was just created");
    assert_eq!(seeded.count("SELECT COUNT(*) FROM batch_log WHERE collid = 2").await, 1);
    let err = seeded
        .portal
        .call_procedure("log_batch(1); DROP TABLE media; --", 2)
        .await;
    assert!(matches!(err, Err(MapperError::Procedure { .. })));
    assert_eq!(seeded.count("SELECT COUNT(*) FROM media").await, 1);
}

#[tokio::test]
async fn schema_choice_is_checked() {
    let legacy = mariadb::TestDb::seeded_legacy().await;
    let err = Portal::connect(&legacy.url, SchemaChoice::Media)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("`media`") && e.contains("images")));
    let portal = Portal::connect(&legacy.url, SchemaChoice::Images)
        .await
        .expect("a legacy portal opens with schema = images");
    let m = portal.media_table();
    assert_eq!(
        (m.table, m.id, m.creator, m.has_media_type),
        ("images", "imgid", "photographer", false)
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_error() {
    // Nothing listens on port 9 (discard) here.
    let err = Portal::connect("mysql://root@127.0.0.1:9/x", SchemaChoice::Auto)
        .await
        .err();
    assert!(err.as_ref().is_some_and(MapperError::is_transient), "{err:?}");
    let err = Portal::connect("sqlite:///etc/passwd/x/y.db", SchemaChoice::Auto)
        .await
        .err();
    assert!(err.as_ref().is_some_and(|e| !e.is_transient()), "{err:?}");
}

/// A lock held by another session is waited out, not blamed on a file:
/// MariaDB's lock wait timeout (1205) is transient, a refused statement
/// is not.
#[tokio::test]
async fn a_lock_wait_timeout_is_transient_and_a_bad_statement_is_not() {
    let db = mariadb().await;
    let mut holder = db.conn().await;
    let mut waiter = db.conn().await;
    sqlx::query("BEGIN").execute(&mut holder).await.expect("begin");
    sqlx::query("SELECT occid FROM omoccurrences WHERE occid = 101 FOR UPDATE")
        .fetch_all(&mut holder)
        .await
        .expect("lock the row");
    sqlx::query("SET SESSION innodb_lock_wait_timeout = 1")
        .execute(&mut waiter)
        .await
        .expect("a short lock wait");
    let waited = sqlx::query("UPDATE omoccurrences SET family = 'x' WHERE occid = 101")
        .execute(&mut waiter)
        .await
        .expect_err("the row is locked");
    let err = MapperError::from(waited);
    assert!(err.is_transient(), "{err:?}");
    let bad = sqlx::query("UPDATE omoccurrences SET nosuchcolumn = 1")
        .execute(&mut waiter)
        .await
        .expect_err("no such column");
    let err = MapperError::from(bad);
    assert!(!err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn unknown_collection_and_bad_urls_are_named() {
    let db = sqlite().await;
    let err = db.portal.collection(77).await.err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("collid 77")));
    let err = Portal::connect("postgres://x/y", SchemaChoice::Auto)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("sqlite://PATH or mysql://")));
}

#[tokio::test]
async fn a_database_without_symbiota_tables_is_refused() {
    let db = mariadb::TestDb::empty().await;
    let err = Portal::connect(&db.url, SchemaChoice::Auto)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        err.is_some_and(|e| e.contains("omcollections")),
        "empty database must be refused"
    );
}

async fn other_catalog_number_lists_match_item_by_item(db: Seeded) {
    let mut conn = db.conn().await;
    sqlx::raw_sql(
        "INSERT INTO omoccurrences (occid, collid, otherCatalogNumbers) VALUES \
         (150, 1, 'X1; ASU-L-0009999|Z'), (151, 1, '41234, 7'), (152, 1, 'a,0000123')",
    )
    .execute(&mut conn)
    .await
    .expect("extra occurrences insert");
    let other = MatchRules {
        other_catalog_numbers: true,
        ..MatchRules::default()
    };
    let found = |occid| Lookup::Found(specdrop_mapper::lookup::Occurrence { occid, tid: None });
    let p = &db.portal;
    let find = |n: &'static str| async move { p.find(1, n, other).await.expect("lookup by other catalog numbers") };
    assert_eq!(find("ASU-L-0009999").await, found(150));
    assert_eq!(find("Z").await, found(150));
    assert_eq!(find("1234").await, Lookup::NotFound, "123 must not match inside 41234");
    assert_eq!(find("7").await, found(151));
    assert_eq!(find("123").await, found(152), "leading zeros apply to list items too");
}
on_both!(other_catalog_number_lists_match_item_by_item);

async fn the_row_gets_the_occurrences_taxon(db: Seeded) {
    let mut conn = db.conn().await;
    sqlx::query("UPDATE omoccurrences SET tidInterpreted = 4242 WHERE occid = 202")
        .execute(&mut conn)
        .await
        .expect("occurrence 202 is in the seed");
    let p = &db.portal;
    let mich = p.collection(2).await.expect("the seed has collid 2");
    let media_id = link(p, &request(&mich, "1390993", "t", "1390993"))
        .await
        .media_id()
        .unwrap_or(0);
    let (table, id) = db.table();
    assert_eq!(
        db.count(&format!("SELECT tid FROM {table} WHERE {id} = {media_id}"))
            .await,
        4242
    );
}
on_both!(the_row_gets_the_occurrences_taxon);

/// `omcollectionstats` after a batch: the row made when missing, the
/// counts and `imgcnt` ("images:specimens with images") written, other
/// keys of `dynamicProperties` kept.
async fn collection_stats_are_refreshed(db: Seeded) {
    let p = &db.portal;
    let (table, _) = db.table();
    let records = db.count("SELECT COUNT(*) FROM omoccurrences WHERE collid = 1").await;
    let stats = p
        .refresh_collection_stats(1)
        .await
        .expect("the refresh runs")
        .expect("the portal has omcollectionstats");
    assert!(stats.created, "the seed has no row: it is made");
    assert_eq!(stats.records, records);
    let media = db
        .count(&format!(
            "SELECT COUNT(*) FROM {table} m JOIN omoccurrences o ON o.occid = m.occid WHERE o.collid = 1"
        ))
        .await;
    assert_eq!((stats.images, stats.specimens_with_images), (media, 1), "103's one row");
    assert_eq!(
        db.count("SELECT recordcnt FROM omcollectionstats WHERE collid = 1")
            .await,
        records
    );

    let mut conn = db.conn().await;
    sqlx::query(
        "UPDATE omcollectionstats SET dynamicProperties = ?, recordcnt = 0, datelastmodified = NULL WHERE collid = 1",
    )
    .bind(r#"{"TypeCount":"4","imgcnt":"0:0"}"#)
    .execute(&mut conn)
    .await
    .expect("set the properties");
    let collection = p.collection(1).await.expect("collid 1");
    let linked = p
        .link(&request(&collection, "ASU-L-0001234", "aa11", "ASU-L-0001234"))
        .await;
    assert!(linked.is_ok(), "{linked:?}");
    let stats = p.refresh_collection_stats(1).await.expect("refresh").expect("table");
    assert!(!stats.created);
    assert_eq!((stats.images, stats.specimens_with_images), (media + 1, 2));
    let row = sqlx::query("SELECT CAST(dynamicProperties AS CHAR), recordcnt, CAST(datelastmodified AS CHAR) FROM omcollectionstats WHERE collid = 1")
        .fetch_one(&mut conn)
        .await
        .expect("read the row");
    let text = |i: usize| {
        row.try_get::<Option<String>, _>(i)
            .ok()
            .flatten()
            .or_else(|| {
                row.try_get::<Option<Vec<u8>>, _>(i)
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .unwrap_or_default()
    };
    let properties: serde_json::Value = serde_json::from_str(&text(0)).expect("dynamicProperties is JSON");
    assert_eq!(properties["imgcnt"], format!("{}:2", media + 1));
    assert_eq!(properties["TypeCount"], "4", "other keys are kept");
    assert_eq!(row.try_get::<i64, _>(1).expect("recordcnt"), records);
    assert!(!text(2).is_empty(), "datelastmodified is set");
}
on_both!(collection_stats_are_refreshed);

/// A thumbnails claim locks only the image row (the specimen record stays
/// free for edits) and refuses a URL longer than its column.
async fn thumbnail_claims_lock_only_the_image_row(db: Seeded) {
    let p = &db.portal;
    let mut conn = db.conn().await;
    sqlx::query(
        "INSERT INTO media (mediaID, occid, url, thumbnailUrl, originalUrl, mediaType, format) \
         VALUES (9101, 201, 'https://h/a.jpg', NULL, 'https://h/a.jpg', 'image', 'image/jpeg')",
    )
    .execute(&mut conn)
    .await
    .expect("a waiting row");
    let taken = thumbnail_claim(p).await;
    assert_eq!(taken.row.catalog_number.as_deref(), Some("1390992"));
    if db._mariadb.is_some() {
        sqlx::raw_sql("BEGIN; SELECT occid FROM omoccurrences WHERE occid = 201 FOR UPDATE NOWAIT")
            .execute(&mut conn)
            .await
            .expect("the specimen record is not locked by the claim");
        sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.expect("rolled back");
    }
    let long = MediaUrls {
        url: format!("https://h/{}.jpg", "x".repeat(5000)),
        thumbnail_url: Some("https://h/t.jpg".into()),
        original_url: Some("https://h/a.jpg".into()),
    };
    let refused = taken.finish(&long, "0123", (1, 1)).await;
    assert!(
        matches!(refused, Err(MapperError::TooLong { column: "url", .. })),
        "{refused:?}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM media WHERE mediaID = 9101 AND thumbnailUrl IS NULL")
            .await,
        1
    );
}

mod thumbnail_claims_lock_only_the_image_row {
    #[tokio::test]
    async fn sqlite() {
        super::thumbnail_claims_lock_only_the_image_row(super::sqlite().await).await;
    }
    #[tokio::test]
    async fn mariadb() {
        super::thumbnail_claims_lock_only_the_image_row(super::mariadb().await).await;
    }
}

async fn thumbnail_claim(p: &Portal) -> specdrop_mapper::thumbnails::RowClaim {
    match p.claim_for_thumbnails(9101, "2000-01-01").await.expect("claimed") {
        specdrop_mapper::thumbnails::Claim::Taken(c) => *c,
        _ => panic!("row 9101 waits"),
    }
}
