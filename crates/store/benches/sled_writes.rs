//! What a key written to sled costs here, alone, in an atomic batch and in a transaction: the
//! measurement behind the store's layout (ARCHITECTURE.md, "Storage").
//!
//! `cargo bench -p cairn-store --bench sled_writes`

use std::time::Instant;

use rand::Rng;
use sled::transaction::ConflictableTransactionError;

const KEYS: usize = 100_000;
const PER_BATCH: usize = 5_000;

fn main() {
    println!(
        "sled write cost: {KEYS} random 70-byte keys with empty values, flushed every {PER_BATCH}"
    );
    for mode in ["insert", "batch", "transaction"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(256 << 20)
            .open()
            .expect("open");
        let tree = db.open_tree("t").expect("tree");
        let mut rng = rand::thread_rng();
        let start = Instant::now();
        for _ in 0..KEYS / PER_BATCH {
            let keys: Vec<Vec<u8>> = (0..PER_BATCH)
                .map(|_| (0..70).map(|_| rng.r#gen::<u8>()).collect())
                .collect();
            match mode {
                "insert" => {
                    for key in keys {
                        tree.insert(key, &[]).expect("insert");
                    }
                }
                "batch" => {
                    let mut batch = sled::Batch::default();
                    for key in keys {
                        batch.insert(key, &[]);
                    }
                    tree.apply_batch(batch).expect("batch");
                }
                _ => {
                    tree.transaction(|tx| {
                        for key in &keys {
                            tx.insert(key.as_slice(), &[])?;
                        }
                        Ok::<_, ConflictableTransactionError<()>>(())
                    })
                    .expect("transaction");
                }
            }
            db.flush().expect("flush");
        }
        let per_key = start.elapsed().as_secs_f64() * 1e6 / KEYS as f64;
        println!("{mode:<12} {per_key:>6.1} µs per key");
    }
}
