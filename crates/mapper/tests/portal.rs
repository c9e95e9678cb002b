//! The mapper against real databases: a fresh MariaDB database per test
//! (Symbiota DDL + seed) and the embedded SQLite one, same assertions.

#[path = "../../../tests/support/mariadb.rs"]
mod mariadb;

use specdrop_mapper::{CollectionInfo, LinkRequest, Lookup, MapperError, MatchRules, MediaUrls, Portal, Unmatched};
use sqlx::{AnyConnection, Connection, Row};

/// A seeded portal of either kind; keeps its database alive.
struct Seeded {
    portal: Portal,
    url: String,
    _mariadb: Option<mariadb::TestDb>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Seeded {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("portal.db").display());
    let portal = Portal::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    portal
        .execute_script(mariadb::SEED)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Seeded {
        portal,
        url,
        _mariadb: None,
        _dir: Some(dir),
    }
}

async fn mariadb() -> Seeded {
    let db = mariadb::TestDb::seeded().await;
    let portal = Portal::connect(&db.url).await.unwrap_or_else(|e| panic!("{e}"));
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
            .unwrap_or_else(|e| panic!("{e}"))
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

fn request<'a>(collection: &'a CollectionInfo, number: &'a str, md5: &'a str, stem: &str) -> LinkRequest<'a> {
    LinkRequest {
        collection,
        catalog_number: number,
        rules: MatchRules::default(),
        unmatched: Unmatched::Park,
        urls: MediaUrls {
            url: format!("/imglib/MICH_Vascular/01390/{stem}_med.jpg"),
            thumbnail_url: Some(format!("/imglib/MICH_Vascular/01390/{stem}_tn.jpg")),
            original_url: Some(format!("/imglib/MICH_Vascular/01390/{stem}.jpg")),
        },
        md5,
        source_name: "MICH-V-1390992.jpg",
        width: 3200,
        height: 4804,
    }
}

async fn link_writes_symbiotas_columns_once(db: Seeded) {
    let p = &db.portal;
    let mich = p.collection(2).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (mich.institution_code.as_str(), mich.collection_code.as_deref()),
        ("MICH", Some("Vascular"))
    );

    let first = p
        .link(&request(
            &mich,
            "1390992",
            "0123456789abcdef0123456789abcdef",
            "1390992",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (first.occid, first.created_occurrence, first.existing_row),
        (201, false, false)
    );

    let mut conn = db.conn().await;
    let row = sqlx::query(
        "SELECT url, thumbnailUrl, originalUrl, occid, format, mediaType, imageType, owner, mediaMD5, \
         sourceIdentifier, recordID, sortSequence, pixelXDimension FROM media WHERE mediaID = ?",
    )
    .bind(first.media_id)
    .fetch_one(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let text = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default();
    assert_eq!(text(0), "/imglib/MICH_Vascular/01390/1390992_med.jpg");
    assert_eq!(text(1), "/imglib/MICH_Vascular/01390/1390992_tn.jpg");
    assert_eq!(text(2), "/imglib/MICH_Vascular/01390/1390992.jpg");
    assert_eq!(row.try_get::<i64, _>(3).ok(), Some(201));
    assert_eq!(
        (text(4).as_str(), text(5).as_str(), text(6).as_str()),
        ("image/jpeg", "image", "specimen")
    );
    assert_eq!(text(7), "University of Michigan Herbarium - Vascular Plants");
    assert_eq!(text(8), "0123456789abcdef0123456789abcdef");
    assert_eq!(text(9), "filename: MICH-V-1390992.jpg");
    assert_eq!(text(10).len(), 36, "recordID is a UUID");
    assert_eq!(row.try_get::<i64, _>(11).ok(), Some(50));
    assert_eq!(row.try_get::<i64, _>(12).ok(), Some(3200));

    // The same content again (as after a crash before the ledger was
    // written): the existing row is found, no second row.
    let again = p
        .link(&request(
            &mich,
            "1390992",
            "0123456789abcdef0123456789abcdef",
            "1390992_1",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((again.media_id, again.existing_row), (first.media_id, true));

    // A second, different image of the same specimen comes after it.
    let second = p
        .link(&request(
            &mich,
            "1390992",
            "ffffffffffffffffffffffffffffffff",
            "1390992_b",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(second.media_id, first.media_id);
    assert_eq!(db.count("SELECT COUNT(*) FROM media WHERE occid = 201").await, 2);
    assert_eq!(
        db.count("SELECT MAX(sortSequence) FROM media WHERE occid = 201").await,
        51
    );
}
on_both!(link_writes_symbiotas_columns_once);

async fn skeletal_records_are_made_once_per_number(db: Seeded) {
    let p = &db.portal;
    let mich = p.collection(2).await.unwrap_or_else(|e| panic!("{e}"));
    let hostile = "X'); DROP TABLE media; --";
    for (i, md5) in ["a", "b"].into_iter().enumerate() {
        let mut req = request(&mich, hostile, md5, &format!("x{i}"));
        req.unmatched = Unmatched::Skeletal;
        let linked = p.link(&req).await.unwrap_or_else(|e| panic!("{e}"));
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
        db.count("SELECT COUNT(*) FROM media WHERE sourceIdentifier IS NOT NULL")
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
    let mich = p.collection(2).await.unwrap_or_else(|e| panic!("{e}"));
    let long = "n".repeat(260);
    let result = p.link(&request(&mich, "1390992", "d", &long)).await;
    match result {
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
    assert_eq!(db.count("SELECT COUNT(*) FROM media").await, 1, "only the seed's row");
    assert_eq!(db.count("SELECT COUNT(*) FROM omoccurrences").await, 12);
}
on_both!(too_long_values_are_refused_before_writing);

#[tokio::test]
async fn unknown_collection_and_bad_urls_are_named() {
    let db = sqlite().await;
    let err = db.portal.collection(77).await.err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("collid 77")));
    let err = Portal::connect("postgres://x/y").await.err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("sqlite://PATH or mysql://")));
}

#[tokio::test]
async fn a_database_without_symbiota_tables_is_refused() {
    let db = mariadb::TestDb::empty().await;
    let err = Portal::connect(&db.url).await.err().map(|e| e.to_string());
    assert!(
        err.is_some_and(|e| e.contains("omcollections")),
        "empty database must be refused"
    );
}
