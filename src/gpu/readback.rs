//! Reading buffers back (copies into a staging buffer, awaiting `map_async`, never a blocking
//! wait in the browser) and noticing a device loss or an uncaptured error, which every readback
//! then reports as [`GpuError::Lost`].

use super::error::GpuError;
use std::sync::{Arc, Mutex};

/// The first device loss or uncaptured error of a device, kept for the next readback.
#[derive(Clone, Default)]
pub(super) struct DeviceFailure {
    first: Arc<Mutex<Option<String>>>,
}

impl DeviceFailure {
    /// Installs `device`'s lost and uncaptured-error handlers (replacing earlier ones), which
    /// record here. Without a handler wgpu panics on an uncaptured error.
    pub(super) fn watch(device: &wgpu::Device) -> DeviceFailure {
        let failure = DeviceFailure::default();
        let on_error = failure.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            on_error.record(error.to_string())
        }));
        let on_loss = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            on_loss.record(format!("{reason:?}: {message}"))
        });
        failure
    }

    /// Keeps the first failure (later ones are usually its consequences).
    fn record(&self, message: String) {
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert(message);
        }
    }

    /// `Err(Lost)` once the device was lost or reported an error.
    pub(super) fn check(&self) -> Result<(), GpuError> {
        match self.first.lock().map(|first| first.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(GpuError::Lost(why)),
            Err(_) => Err(GpuError::Lost("an error handler panicked".into())),
        }
    }
}

/// A mappable buffer that device buffers are copied into to be read.
pub(super) struct Staging {
    buffer: wgpu::Buffer,
}

impl Staging {
    /// A staging buffer of `bytes` bytes.
    pub(super) fn new(device: &wgpu::Device, label: &str, bytes: u64) -> Staging {
        Staging {
            buffer: super::buffers::zeroed_buffer(
                device,
                label,
                bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
        }
    }

    /// Appends to `encoder` copies of each `(buffer, bytes)` into this buffer, one after the
    /// other, submits it and awaits the mapping (natively by polling; in the browser the event
    /// loop runs the callback, so nothing blocks); returns the words copied, or `Lost`.
    pub(super) async fn read(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        failure: &DeviceFailure,
        mut encoder: wgpu::CommandEncoder,
        copies: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<u32>, GpuError> {
        let mut total = 0;
        for &(buffer, bytes) in copies {
            encoder.copy_buffer_to_buffer(buffer, 0, &self.buffer, total, bytes);
            total += bytes;
        }
        queue.submit([encoder.finish()]);
        let (sender, receiver) = futures_channel::oneshot::channel();
        let slice = self.buffer.slice(..total);
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver may be gone if the caller dropped the future; nothing to do then.
            let _ = sender.send(result);
        });
        // Natively the callback only runs inside `poll`; in the browser the event loop runs it
        // and `poll` does nothing, so this wait happens only off the web.
        #[cfg(not(target_arch = "wasm32"))]
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Lost(e.to_string()))?;
        #[cfg(target_arch = "wasm32")]
        let _ = device;
        let mapped = receiver
            .await
            .map_err(|_| GpuError::Lost("the readback was cancelled".into()))?;
        if let Err(error) = mapped {
            failure.check()?;
            return Err(GpuError::Lost(error.to_string()));
        }
        let words = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Lost(e.to_string()))?;
            bytemuck::cast_slice::<u8, u32>(&view).to_vec()
        };
        self.buffer.unmap();
        failure.check()?;
        Ok(words)
    }
}
