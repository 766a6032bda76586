//! The one local audio source and sink of an mxcall process, shared by the calls that need them.
//!
//! A process has one microphone-or-file and one speaker-or-recording, but during glare two calls
//! briefly exist and the surviving one must take the audio over seamlessly. Each media session
//! gets a handle; the lock is only held for one frame copy, never across an await.

use std::sync::{Arc, Mutex};

use crate::audio::{AudioSink, AudioSource, Frame, MediaError, SourceStatus};

#[derive(Clone)]
pub struct SharedSource(Arc<Mutex<Box<dyn AudioSource>>>);

#[derive(Clone)]
pub struct SharedSink(Arc<Mutex<Box<dyn AudioSink>>>);

impl SharedSource {
    pub fn new(source: Box<dyn AudioSource>) -> Self {
        SharedSource(Arc::new(Mutex::new(source)))
    }
}

impl SharedSink {
    pub fn new(sink: Box<dyn AudioSink>) -> Self {
        SharedSink(Arc::new(Mutex::new(sink)))
    }

    /// Flushes the sink (a WAV header, a device) at the end of the process.
    pub fn finish(&self) -> Result<(), MediaError> {
        match self.0.lock() {
            Ok(mut sink) => sink.finish(),
            Err(poisoned) => poisoned.into_inner().finish(),
        }
    }
}

impl AudioSource for SharedSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceStatus {
        match self.0.lock() {
            Ok(mut source) => source.read_frame(frame),
            Err(_) => {
                frame.fill(0);
                SourceStatus::Ended
            }
        }
    }

    fn take_error(&mut self) -> Option<MediaError> {
        self.0.lock().ok()?.take_error()
    }
}

impl AudioSink for SharedSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError> {
        match self.0.lock() {
            Ok(mut sink) => sink.write_frame(frame),
            Err(_) => Ok(()),
        }
    }

    /// A session ending is not the end of the process's output: see [`SharedSink::finish`].
    fn finish(&mut self) -> Result<(), MediaError> {
        Ok(())
    }
}

/// Plays remote audio to the output and also records it (`--record FILE.wav`).
pub struct TeeSink {
    pub first: Box<dyn AudioSink>,
    pub second: Box<dyn AudioSink>,
}

impl AudioSink for TeeSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), MediaError> {
        let a = self.first.write_frame(frame);
        let b = self.second.write_frame(frame);
        a.and(b)
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        let a = self.first.finish();
        let b = self.second.finish();
        a.and(b)
    }
}
