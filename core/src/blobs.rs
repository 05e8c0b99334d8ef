//! Blobs: zstd-compressed bodies, attachment files and partial-download state on disk.
//! File names from the wire never choose a path here.
