//! Request bodies streamed from a file with live progress: an artifact uploaded to UPM (install by
//! upload) or to the Marketplace (`publish`) is read from disk in chunks as it is sent, never held
//! whole in memory, and each chunk is told as [`Activity::Uploading`] (a bar at a terminal,
//! docs/terminal.md); [`Activity::Uploaded`] follows however the body ends (sent, failed, dropped).

use tokio::io::AsyncReadExt;

use crate::notice::{Activity, Notices};

/// Bytes read from the file per chunk sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// A body of `length` bytes read from `file` as it is sent, told to `notices` under `label` (the
/// file's name). A read error ends the body with that error (the request then fails).
pub fn file_body(
    file: tokio::fs::File,
    length: u64,
    label: &str,
    notices: &Notices,
) -> reqwest::Body {
    reqwest::Body::wrap_stream(file_stream(file, length, label, notices))
}

/// The chunks of [`file_body`], each told as it is read.
fn file_stream(
    file: tokio::fs::File,
    length: u64,
    label: &str,
    notices: &Notices,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    let told = Told {
        notices: notices.clone(),
        file: label.to_string(),
    };
    notices.activity(Activity::Uploading {
        file: label.to_string(),
        done: 0,
        total: length,
    });
    futures::stream::try_unfold(
        (file, told, 0_u64),
        move |(mut file, told, done)| async move {
            let mut chunk = vec![0; CHUNK_BYTES];
            let read = file.read(&mut chunk).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            chunk.truncate(read);
            let done = done + read as u64;
            told.notices.activity(Activity::Uploading {
                file: told.file.clone(),
                done,
                total: length,
            });
            Ok(Some((chunk, (file, told, done))))
        },
    )
}

/// Tells [`Activity::Uploaded`] when the body's stream is dropped: sent whole, failed or
/// abandoned.
struct Told {
    notices: Notices,
    file: String,
}

impl Drop for Told {
    fn drop(&mut self) {
        self.notices.activity(Activity::Uploaded {
            file: self.file.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures::TryStreamExt;

    use super::*;
    use crate::notice::{Notice, Observer};

    #[derive(Default)]
    struct Activities(Mutex<Vec<Activity>>);

    impl Observer for Activities {
        fn notice(&self, _instance: Option<&str>, _notice: &Notice) {}
        fn activity(&self, _instance: Option<&str>, activity: &Activity) {
            self.0.lock().unwrap().push(activity.clone());
        }
    }

    #[tokio::test]
    async fn the_file_is_sent_whole_in_chunks_and_each_is_told() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("app.jar");
        let bytes: Vec<u8> = (0..150_000_u32).map(|n| n as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let observer = Arc::new(Activities::default());
        let notices = Notices::to(observer.clone());
        let file = tokio::fs::File::open(&path).await.unwrap();
        let chunks: Vec<Vec<u8>> = file_stream(file, bytes.len() as u64, "app.jar", &notices)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.concat(), bytes);
        let told = observer.0.lock().unwrap().clone();
        let done: Vec<u64> = told
            .iter()
            .filter_map(|activity| match activity {
                Activity::Uploading { done, total, .. } => {
                    assert_eq!(*total, 150_000);
                    Some(*done)
                }
                _ => None,
            })
            .collect();
        assert_eq!(done, [0, 65_536, 131_072, 150_000]);
        assert!(matches!(told.last(), Some(Activity::Uploaded { file }) if file == "app.jar"));
    }
}
