//! The `/cairn/sync/1` messages as plain Rust types, their protobuf form (proto/cairn/v1/
//! wire.proto) and the size-limited codec that reads and writes them on a stream.

use std::io;

use cairn_proto::v1 as pb;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use prost::Message;

/// The protocol name nodes negotiate.
pub const PROTOCOL: &str = "/cairn/sync/1";

/// Version of the messages this build writes and understands.
pub const WIRE_VERSION: u32 = 1;

/// Most key statements one message carries.
pub const MAX_STATEMENTS: usize = 512;

/// Largest request accepted, in bytes: a certificate and [`MAX_STATEMENTS`] key statements of
/// at most 2 KiB each (the most a node reads as one).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 + MAX_STATEMENTS * 2048;

/// Largest response accepted, in bytes: a page is cut at [`PAGE_BUDGET_BYTES`], plus one
/// report of the largest size a node accepts, plus framing.
pub const MAX_RESPONSE_BYTES: usize = PAGE_BUDGET_BYTES + 2 * 1024 * 1024;

/// A serving node stops adding reports to a page once it holds this many bytes.
pub const PAGE_BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// Most reports asked for in one pull.
pub const MAX_PAGE_REPORTS: u32 = 4096;

/// What one node asks another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// "This is who I am": the sender's encoded node certificate and its organisation's key
    /// statements.
    Hello {
        /// An encoded `NodeCertificate`.
        certificate: Vec<u8>,
        /// Encoded `KeyStatement`s (at most [`MAX_STATEMENTS`]).
        statements: Vec<Vec<u8>>,
        /// The sender's clock (ms since the Unix epoch; 0: not said).
        clock_ms: i64,
    },
    /// "My organisation made these key statements."
    Statements {
        /// Encoded `KeyStatement`s (at most [`MAX_STATEMENTS`]).
        statements: Vec<Vec<u8>>,
    },
    /// "I have new reports you may see, up to my arrival number `head`", and reports it now
    /// holds by a shorter path that may go further, to fetch.
    Notify {
        /// The sender's newest arrival number.
        head: u64,
        /// Reports offered again (at most [`MAX_OFFERED`]).
        again: Vec<Offered>,
    },
    /// "Send me up to `limit` reports I may see that arrived after `after`."
    Pull {
        /// The asker's cursor in the server's arrival order.
        after: u64,
        /// Most reports wanted.
        limit: u32,
    },
    /// "Send me this report."
    Fetch {
        /// The report id.
        report_id: [u8; 32],
    },
}

/// Most reports one notification offers again.
pub const MAX_OFFERED: usize = 64;

/// A report a node offers again: it now holds it by a shorter path (so it may go further) or
/// with more disclosures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    /// The report's id.
    pub report_id: [u8; 32],
    /// Relays before the sender held it (what a fetch of it says).
    pub hop: u32,
    /// Disclosures the copy the receiver would get carries.
    pub disclosures: u32,
}

/// A report as one node passes it to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedReport {
    /// The encoded envelope (disclosures may have been withheld).
    pub envelope: Vec<u8>,
    /// Relays before the sender held it (0: the sender wrote it).
    pub hop: u32,
}

/// One page of a pull.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The reports, in the server's arrival order.
    pub reports: Vec<PassedReport>,
    /// The last arrival number the page accounts for (the next cursor).
    pub through: u64,
    /// Whether the server has more to look at after `through`.
    pub more: bool,
    /// The server's newest arrival number when it served the page.
    pub head: u64,
}

/// What a node answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The answerer's encoded node certificate and its organisation's key statements.
    Hello {
        /// An encoded `NodeCertificate`.
        certificate: Vec<u8>,
        /// Encoded `KeyStatement`s (at most [`MAX_STATEMENTS`]).
        statements: Vec<Vec<u8>>,
        /// The sender's clock (ms since the Unix epoch; 0: not said).
        clock_ms: i64,
    },
    /// Received.
    Ack,
    /// An answer to a pull.
    Page(Page),
    /// An answer to a fetch: `None` when there is no such report the asker may see.
    Fetched(Option<PassedReport>),
    /// The request was not served, and why.
    Refused(String),
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Request {
    /// The protobuf form.
    pub fn encode(&self) -> Vec<u8> {
        use pb::sync_request::Request as R;
        let request = match self {
            Request::Hello {
                certificate,
                statements,
                clock_ms,
            } => R::Hello(pb::Hello {
                certificate: certificate.clone(),
                statements: statements.clone(),
                clock_ms: *clock_ms,
            }),
            Request::Statements { statements } => R::Statements(pb::Statements {
                statements: statements.clone(),
            }),
            Request::Notify { head, again } => R::Notify(pb::Notify {
                head: *head,
                again: again
                    .iter()
                    .map(|o| pb::Offered {
                        report_id: o.report_id.to_vec(),
                        hop: o.hop,
                        disclosures: o.disclosures,
                    })
                    .collect(),
            }),
            Request::Pull { after, limit } => R::Pull(pb::Pull {
                after: *after,
                limit: *limit,
            }),
            Request::Fetch { report_id } => R::Fetch(pb::Fetch {
                report_id: report_id.to_vec(),
            }),
        };
        pb::SyncRequest {
            version: WIRE_VERSION,
            request: Some(request),
        }
        .encode_to_vec()
    }

    /// Reads the protobuf form; anything malformed, empty or of a newer version is an error.
    pub fn decode(bytes: &[u8]) -> io::Result<Request> {
        use pb::sync_request::Request as R;
        let message = pb::SyncRequest::decode(bytes)
            .map_err(|e| invalid(format!("malformed sync request: {e}")))?;
        check_version(message.version)?;
        Ok(
            match message
                .request
                .ok_or_else(|| invalid("sync request with no request in it"))?
            {
                R::Hello(h) => Request::Hello {
                    certificate: h.certificate,
                    statements: statements_within_limit(h.statements)?,
                    clock_ms: h.clock_ms,
                },
                R::Statements(s) => Request::Statements {
                    statements: statements_within_limit(s.statements)?,
                },
                R::Notify(n) => {
                    if n.again.len() > MAX_OFFERED {
                        return Err(invalid(format!(
                            "notify: {} reports offered again; at most {MAX_OFFERED}",
                            n.again.len()
                        )));
                    }
                    let again = n
                        .again
                        .into_iter()
                        .map(|o| {
                            Ok(Offered {
                                report_id: o.report_id.as_slice().try_into().map_err(|_| {
                                    invalid("notify: an offered report id is not 32 bytes")
                                })?,
                                hop: o.hop,
                                disclosures: o.disclosures,
                            })
                        })
                        .collect::<io::Result<Vec<_>>>()?;
                    Request::Notify {
                        head: n.head,
                        again,
                    }
                }
                R::Pull(p) => Request::Pull {
                    after: p.after,
                    limit: p.limit,
                },
                R::Fetch(f) => Request::Fetch {
                    report_id: f
                        .report_id
                        .as_slice()
                        .try_into()
                        .map_err(|_| invalid("fetch: the report id is not 32 bytes"))?,
                },
            },
        )
    }
}

fn statements_within_limit(statements: Vec<Vec<u8>>) -> io::Result<Vec<Vec<u8>>> {
    if statements.len() > MAX_STATEMENTS {
        return Err(invalid(format!(
            "{} key statements in one message; at most {MAX_STATEMENTS}",
            statements.len()
        )));
    }
    Ok(statements)
}

fn check_version(version: u32) -> io::Result<()> {
    match version {
        WIRE_VERSION => Ok(()),
        0 => Err(invalid("sync message without a version")),
        v => Err(invalid(format!(
            "sync message version {v} is newer than this node understands ({WIRE_VERSION})"
        ))),
    }
}

fn passed_to_pb(report: PassedReport) -> pb::PassedReport {
    pb::PassedReport {
        envelope: report.envelope,
        hop: report.hop,
    }
}

fn passed_from_pb(report: pb::PassedReport) -> PassedReport {
    PassedReport {
        envelope: report.envelope,
        hop: report.hop,
    }
}

impl Response {
    /// The protobuf form.
    pub fn encode(&self) -> Vec<u8> {
        self.clone().into_encoded()
    }

    /// The protobuf form, consuming the response (no copy of the reports).
    pub fn into_encoded(self) -> Vec<u8> {
        use pb::sync_response::Response as R;
        let response = match self {
            Response::Hello {
                certificate,
                statements,
                clock_ms,
            } => R::Hello(pb::Hello {
                certificate,
                statements,
                clock_ms,
            }),
            Response::Ack => R::Ack(pb::Ack {}),
            Response::Page(page) => R::Page(pb::Page {
                reports: page.reports.into_iter().map(passed_to_pb).collect(),
                through: page.through,
                more: page.more,
                head: page.head,
            }),
            Response::Fetched(report) => R::Fetched(pb::Fetched {
                report: report.map(passed_to_pb),
            }),
            Response::Refused(reason) => R::Refused(pb::Refused { reason }),
        };
        pb::SyncResponse {
            version: WIRE_VERSION,
            response: Some(response),
        }
        .encode_to_vec()
    }

    /// Reads the protobuf form; anything malformed, empty or of a newer version is an error.
    pub fn decode(bytes: &[u8]) -> io::Result<Response> {
        use pb::sync_response::Response as R;
        let message = pb::SyncResponse::decode(bytes)
            .map_err(|e| invalid(format!("malformed sync response: {e}")))?;
        check_version(message.version)?;
        Ok(
            match message
                .response
                .ok_or_else(|| invalid("sync response with no response in it"))?
            {
                R::Hello(h) => Response::Hello {
                    certificate: h.certificate,
                    statements: statements_within_limit(h.statements)?,
                    clock_ms: h.clock_ms,
                },
                R::Ack(_) => Response::Ack,
                R::Page(p) => Response::Page(Page {
                    reports: p.reports.into_iter().map(passed_from_pb).collect(),
                    through: p.through,
                    more: p.more,
                    head: p.head,
                }),
                R::Fetched(f) => Response::Fetched(f.report.map(passed_from_pb)),
                R::Refused(r) => Response::Refused(r.reason),
            },
        )
    }
}

/// Reads a whole stream of at most `limit` bytes.
async fn read_limited<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io.take(limit as u64 + 1).read_to_end(&mut bytes).await?;
    if bytes.len() > limit {
        return Err(invalid(format!(
            "message larger than the {limit} bytes this node accepts"
        )));
    }
    Ok(bytes)
}

/// A message sent alone on its stream direction: how it is read back, and the most bytes read.
pub trait OneMessage: Sized + Send + 'static {
    /// Most bytes read for one message.
    const MAX_BYTES: usize;
    /// The message of these bytes, or why they are not one.
    fn from_bytes(bytes: &[u8]) -> io::Result<Self>;
    /// The bytes sent.
    fn into_bytes(self) -> Vec<u8>;
}

impl OneMessage for Request {
    const MAX_BYTES: usize = MAX_REQUEST_BYTES;
    fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        Request::decode(bytes)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.encode()
    }
}

impl OneMessage for Response {
    const MAX_BYTES: usize = MAX_RESPONSE_BYTES;
    fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        Response::decode(bytes)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.into_encoded()
    }
}

/// Reads and writes one message per stream direction (a request `Q`, its answer `A`),
/// refusing oversized ones.
pub struct OneMessageCodec<Q, A>(std::marker::PhantomData<fn() -> (Q, A)>);

impl<Q, A> Default for OneMessageCodec<Q, A> {
    fn default() -> Self {
        OneMessageCodec(std::marker::PhantomData)
    }
}

impl<Q, A> Clone for OneMessageCodec<Q, A> {
    fn clone(&self) -> Self {
        OneMessageCodec::default()
    }
}

/// The catch-up protocol's codec.
pub type SyncCodec = OneMessageCodec<Request, Response>;

impl<Q: OneMessage, A: OneMessage> libp2p::request_response::Codec for OneMessageCodec<Q, A> {
    type Protocol = libp2p::StreamProtocol;
    type Request = Q;
    type Response = A;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Q>
    where
        T: AsyncRead + Unpin + Send,
    {
        Q::from_bytes(&read_limited(io, Q::MAX_BYTES).await?)
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<A>
    where
        T: AsyncRead + Unpin + Send,
    {
        A::from_bytes(&read_limited(io, A::MAX_BYTES).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        request: Q,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&request.into_bytes()).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        response: A,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&response.into_bytes()).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let requests = [
            Request::Hello {
                certificate: vec![1, 2, 3],
                statements: Vec::new(),
                clock_ms: 0,
            },
            Request::Hello {
                certificate: vec![1, 2, 3],
                statements: vec![vec![7; 200], vec![8; 10]],
                clock_ms: 1_800_000_000_000,
            },
            Request::Statements {
                statements: vec![vec![9; 300]],
            },
            Request::Notify {
                head: 42,
                again: Vec::new(),
            },
            Request::Notify {
                head: 43,
                again: vec![Offered {
                    report_id: [3; 32],
                    hop: 2,
                    disclosures: 1,
                }],
            },
            Request::Pull {
                after: 7,
                limit: 512,
            },
            Request::Fetch { report_id: [9; 32] },
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        let responses = [
            Response::Hello {
                certificate: vec![4],
                statements: vec![vec![5; 64]],
                clock_ms: -5,
            },
            Response::Ack,
            Response::Page(Page {
                reports: vec![PassedReport {
                    envelope: vec![5; 100],
                    hop: 2,
                }],
                through: 10,
                more: true,
                head: 12,
            }),
            Response::Fetched(None),
            Response::Fetched(Some(PassedReport {
                envelope: vec![6],
                hop: 0,
            })),
            Response::Refused("busy".into()),
        ];
        for r in responses {
            assert_eq!(Response::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn newer_versions_empty_messages_and_garbage_are_refused() {
        let newer = pb::SyncRequest {
            version: 2,
            request: Some(pb::sync_request::Request::Notify(pb::Notify {
                head: 1,
                again: Vec::new(),
            })),
        }
        .encode_to_vec();
        let err = Request::decode(&newer).unwrap_err().to_string();
        assert!(err.contains("version 2 is newer"), "{err}");
        let offered = |n: usize, id_len: usize| {
            pb::SyncRequest {
                version: 1,
                request: Some(pb::sync_request::Request::Notify(pb::Notify {
                    head: 1,
                    again: vec![
                        pb::Offered {
                            report_id: vec![1; id_len],
                            hop: 1,
                            disclosures: 0,
                        };
                        n
                    ],
                })),
            }
            .encode_to_vec()
        };
        assert!(Request::decode(&offered(MAX_OFFERED, 32)).is_ok());
        let err = Request::decode(&offered(MAX_OFFERED + 1, 32))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 64"), "{err}");
        let err = Request::decode(&offered(1, 31)).unwrap_err().to_string();
        assert!(err.contains("not 32 bytes"), "{err}");
        let statements = |n: usize| {
            Request::Statements {
                statements: vec![vec![1; 2048]; n],
            }
            .encode()
        };
        let most = statements(MAX_STATEMENTS);
        assert!(
            most.len() <= MAX_REQUEST_BYTES,
            "the most statements fit a request"
        );
        assert!(Request::decode(&most).is_ok());
        let err = Request::decode(&statements(MAX_STATEMENTS + 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 512"), "{err}");
        let empty = pb::SyncRequest {
            version: 1,
            request: None,
        }
        .encode_to_vec();
        assert!(Request::decode(&empty).is_err());
        assert!(Request::decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(Response::decode(&[0x0a, 0xff]).is_err());
        let short_id = pb::SyncRequest {
            version: 1,
            request: Some(pb::sync_request::Request::Fetch(pb::Fetch {
                report_id: vec![1; 31],
            })),
        }
        .encode_to_vec();
        let err = Request::decode(&short_id).unwrap_err().to_string();
        assert!(err.contains("not 32 bytes"), "{err}");
    }

    #[test]
    fn oversized_streams_are_refused() {
        let big = vec![0u8; MAX_REQUEST_BYTES + 1];
        let mut reader = futures::io::Cursor::new(big);
        let err = futures::executor::block_on(read_limited(&mut reader, MAX_REQUEST_BYTES))
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than"), "{err}");
        let ok = vec![0u8; MAX_REQUEST_BYTES];
        let mut reader = futures::io::Cursor::new(ok);
        assert_eq!(
            futures::executor::block_on(read_limited(&mut reader, MAX_REQUEST_BYTES))
                .unwrap()
                .len(),
            MAX_REQUEST_BYTES
        );
    }
}
