//! Cairn and the tools its users already run: reports to and from STIX 2.1 (`stix`), and MISP
//! events into Cairn (`misp`). Plain code with no I/O: callers read and write the files, sign
//! the drafts and store them.

pub mod import;
pub mod misp;
pub mod stix;
