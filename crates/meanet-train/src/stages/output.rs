//! The last stage: the ONNX files, the manifest and the test-set results in the bundle.

use super::*; // the stage module's imports: the same types, one list

impl Run {
    /// Stage 5: test-set results, ONNX files and the manifest in `bundle`.
    pub fn export(
        &mut self,
        bundle: &Path,
        main: &MainNet,
        ext: &ExtensionNet,
        cloud: &CloudNet,
        partition: &ClassPartition,
        cm: &ConfusionMatrix,
    ) -> Result<Results, TrainError> {
        let results = self.results(main, ext, cloud, partition, cm)?;
        let input = self.train.shape;
        let features = self.feature_shape(main);
        let files = [
            (
                "main.onnx",
                export::main_onnx(main, input, features, self.arch.classes),
            ),
            (
                "extension.onnx",
                export::extension_onnx(ext, input, features, self.arch.hard),
            ),
            (
                "cloud.onnx",
                export::cloud_onnx(cloud, input, self.arch.classes),
            ),
        ];
        let manifest = bundle::manifest(&BundleInfo {
            classes: &self.train.classes,
            input,
            norm: &self.norm,
            dataset: &self.dataset,
            partition,
            config: &self.cfg,
        });
        bundle::write(bundle, &files, &manifest, &results)?;
        self.report.line(&format!(
            "test: main {:.4}, main+extension {:.4}, cloud {:.4}; on hard classes: main {:.4}, extension {:.4} ({} samples)",
            results.main_accuracy, results.main_extension_accuracy, results.cloud_accuracy,
            results.main_accuracy_on_hard, results.extension_accuracy_on_hard, results.hard_samples
        ));
        Ok(results)
    }

    pub(super) fn results(
        &self,
        main: &MainNet,
        ext: &ExtensionNet,
        cloud: &CloudNet,
        partition: &ClassPartition,
        cm: &ConfusionMatrix,
    ) -> Result<Results, TrainError> {
        let all: Vec<usize> = (0..self.test.len()).collect();
        let y: Vec<usize> = self.test.labels.iter().map(|&l| usize::from(l)).collect();
        let (m, e, c) = (main.valid(), ext.valid(), cloud.valid());
        let (ml, mc) = infer(&self.device, &self.test, &all, &self.norm, &|x, _| {
            m.forward(x).0
        })?;
        let (el, ec) = infer(&self.device, &self.test, &all, &self.norm, &|x, _| {
            e.forward(x.clone(), m.forward(x).1)
        })?;
        let (cl, cc) = infer(&self.device, &self.test, &all, &self.norm, &|x, _| {
            c.forward(x)
        })?;
        Ok(Results::from_predictions(
            Predictions {
                labels: &y,
                main: &predictions(&ml, mc),
                extension: &predictions(&el, ec),
                cloud: &predictions(&cl, cc),
            },
            partition,
            cm.per_class().iter().map(|s| s.recall).collect(),
        ))
    }

    /// Burn's own inference on the first `n` test samples (normalised input, main logits and
    /// features, extension logits, cloud logits), for comparing with the exported ONNX files.
    #[allow(clippy::type_complexity)]
    pub fn reference_outputs(
        &self,
        main: &MainNet,
        ext: &ExtensionNet,
        cloud: &CloudNet,
        n: usize,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>), TrainError> {
        let idx: Vec<usize> = (0..n.min(self.test.len())).collect();
        let x = crate::train::images(&self.test, &idx, &self.norm, &self.device)?;
        let (m, e, c) = (main.valid(), ext.valid(), cloud.valid());
        let (ml, f) = m.forward(x.clone());
        let el = e.forward(x.clone(), f.clone());
        let cl = c.forward(x.clone());
        use crate::train::floats;
        Ok((floats(x), floats(ml), floats(f), floats(el), floats(cl)))
    }
}
