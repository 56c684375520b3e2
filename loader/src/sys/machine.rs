//! What the host is, in `object`'s terms: the object format its dynamic loader opens and
//! the architecture it runs on.

use object::{Architecture, BinaryFormat};

/// The object format this platform's dynamic loader opens.
fn host_format() -> BinaryFormat {
    if cfg!(windows) {
        BinaryFormat::Pe
    } else if cfg!(target_vendor = "apple") {
        BinaryFormat::MachO
    } else {
        BinaryFormat::Elf
    }
}

/// The architecture this host runs on, in `object`'s terms.
fn host_architecture() -> Architecture {
    match std::env::consts::ARCH {
        "x86_64" if cfg!(target_pointer_width = "32") => Architecture::X86_64_X32,
        "x86_64" => Architecture::X86_64,
        "x86" => Architecture::I386,
        "aarch64" if cfg!(target_pointer_width = "32") => Architecture::Aarch64_Ilp32,
        "aarch64" => Architecture::Aarch64,
        "arm" => Architecture::Arm,
        "riscv64" => Architecture::Riscv64,
        "riscv32" => Architecture::Riscv32,
        "powerpc64" => Architecture::PowerPc64,
        "powerpc" => Architecture::PowerPc,
        "s390x" => Architecture::S390x,
        "loongarch64" => Architecture::LoongArch64,
        "mips64" => Architecture::Mips64,
        "mips" => Architecture::Mips,
        "sparc64" => Architecture::Sparc64,
        _ => Architecture::Unknown,
    }
}

/// The libraries a platform's dynamic loader opens: their object format and architecture.
/// Stage 2 checks a file against this host's; tests check files of other platforms too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Platform {
    pub(crate) format: BinaryFormat,
    pub(crate) architecture: Architecture,
}

impl Platform {
    /// This host.
    pub(crate) fn host() -> Platform {
        Platform {
            format: host_format(),
            architecture: host_architecture(),
        }
    }

    /// The ELF machine number of this platform's libraries, where they are 64-bit ELF files.
    pub(crate) fn elf64_machine(&self) -> Option<u16> {
        if self.format != BinaryFormat::Elf {
            return None;
        }
        match self.architecture {
            Architecture::X86_64 => Some(object::elf::EM_X86_64),
            Architecture::Aarch64 => Some(object::elf::EM_AARCH64),
            Architecture::Riscv64 => Some(object::elf::EM_RISCV),
            Architecture::PowerPc64 => Some(object::elf::EM_PPC64),
            Architecture::S390x => Some(object::elf::EM_S390),
            Architecture::LoongArch64 => Some(object::elf::EM_LOONGARCH),
            _ => None,
        }
    }
}
