//! The one place that knows which Burn backends are compiled in and maps a choice to a device.

use anyhow::{Result, bail};
use burn::prelude::*;

/// A compute backend, chosen at run time among those compiled in by Cargo features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Burn's flex CPU backend (feature `cpu`).
    Cpu,
    /// Burn's ndarray CPU backend (feature `ndarray`).
    Ndarray,
    /// wgpu on the first GPU adapter (feature `gpu`).
    Gpu,
}

impl Backend {
    /// The name used on the command line and in run.toml.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Ndarray => "ndarray",
            Backend::Gpu => "gpu",
        }
    }

    /// Whether this binary was built with the backend's Cargo feature.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Cpu => cfg!(feature = "cpu"),
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Gpu => cfg!(feature = "gpu"),
        }
    }

    /// The first compiled backend, in the order cpu, ndarray, gpu.
    pub fn default_compiled() -> Backend {
        [Backend::Cpu, Backend::Ndarray, Backend::Gpu]
            .into_iter()
            .find(|b| b.is_compiled())
            .unwrap_or(Backend::Cpu)
    }

    /// The (non-autodiff) device of this backend.
    pub fn device(self) -> Result<Device> {
        if !self.is_compiled() {
            bail!(
                "backend '{}' is not compiled into this binary: build with `--features {}` (or run `just train {}`)",
                self.name(),
                self.name(),
                self.name()
            );
        }
        let device = self.device_unchecked();
        if self == Backend::Gpu {
            probe(&device)?;
        }
        Ok(device)
    }
}

/// Runs one tiny operation on `device`, turning the panic wgpu raises when it finds no adapter
/// into an error that says what to do.
fn probe(device: &Device) -> Result<()> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<1>::ones([4], device).sum().into_scalar::<f32>()
    }));
    std::panic::set_hook(hook);
    match outcome {
        Ok(4.0) => Ok(()),
        Ok(v) => bail!("the GPU adapter computed 1+1+1+1 = {v}: it is not usable"),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no reason given");
            let why: String = why.lines().next().unwrap_or("").chars().take(160).collect();
            bail!(
                "no usable GPU adapter: wgpu looked for a Vulkan, Metal, DirectX 12 or OpenGL device and failed ({why}); install a GPU driver (on Debian the software Vulkan driver: apt-get install mesa-vulkan-drivers libvulkan1) or train on the CPU with `just train cpu`"
            )
        }
    }
}

impl Backend {
    #[allow(unreachable_code, deprecated)]
    fn device_unchecked(self) -> Device {
        match self {
            Backend::Cpu => {
                #[cfg(feature = "cpu")]
                return Device::flex();
            }
            Backend::Ndarray => {
                #[cfg(feature = "ndarray")]
                return Device::ndarray();
            }
            Backend::Gpu => {
                #[cfg(feature = "gpu")]
                return Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
            }
        }
        unreachable!("device() checks that the backend is compiled in")
    }
}
