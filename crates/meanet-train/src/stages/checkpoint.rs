//! Checkpoints: saving and loading each stage's network, so a run resumes where it stopped.

use burn::module::Module;
use burn::store::ModuleRecord;

use super::Run;
use crate::error::TrainError;
use crate::nets::{CloudNet, ExtensionNet, MainNet};

impl Run {
    pub(super) fn save<M: Module>(&self, m: &M, name: &str) -> Result<(), TrainError> {
        let path = self.work.join(format!("{name}.bpk"));
        m.clone()
            .save_file(&path)
            .map_err(|e| TrainError::Checkpoint {
                path,
                reason: e.to_string(),
            })
    }

    pub(super) fn load<M: Module>(
        &self,
        m: M,
        name: &'static str,
        stage: &'static str,
    ) -> Result<M, TrainError> {
        let path = self.work.join(format!("{name}.bpk"));
        if !path.is_file() {
            return Err(TrainError::Missing {
                stage,
                missing: path.display().to_string(),
            });
        }
        let record = ModuleRecord::load(&path).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        m.try_load_record(record)
            .map_err(|e| TrainError::Checkpoint {
                path,
                reason: e.to_string(),
            })
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.work.join(format!("{name}.bpk")).is_file()
    }

    /// Loads a stage's checkpoint (for stages run alone).
    pub fn load_main(&self) -> Result<MainNet, TrainError> {
        self.load(
            MainNet::new(&self.arch, &self.autodiff()),
            "main",
            "partition",
        )
    }

    /// Loads the extension checkpoint.
    pub fn load_extension(&self) -> Result<ExtensionNet, TrainError> {
        self.load(
            ExtensionNet::new(&self.arch, &self.autodiff()),
            "extension",
            "export",
        )
    }

    /// Loads the cloud checkpoint.
    pub fn load_cloud(&self) -> Result<CloudNet, TrainError> {
        self.load(
            CloudNet::new(&self.arch, &self.autodiff()),
            "cloud",
            "export",
        )
    }
}
