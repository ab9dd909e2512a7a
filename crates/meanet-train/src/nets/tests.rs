use super::*;

#[test]
fn resnet32_has_the_published_shape() {
    let a = Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, Some(110)).unwrap();
    // 1 stem + 15 blocks x 2 convs + FC = 32 layers; 110 = 1 + 54 x 2 + 1.
    assert_eq!(a.main.blocks.len() * 2 + 2, 32);
    assert_eq!(a.cloud.blocks.len() * 2 + 2, 110);
    assert_eq!(a.main.out_channels(), 64);
    assert_eq!(a.main.blocks.iter().filter(|b| b.stride() == 2).count(), 2);
    let basic: Vec<BlockSpec> = [(16, 1), (32, 2), (64, 2)]
        .into_iter()
        .map(|(c, s)| BlockSpec::basic(c, s))
        .collect();
    assert_eq!(a.adaptive.blocks, basic);
    assert_eq!(a.extension.len(), 4);
    assert_eq!(
        Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, None).unwrap(),
        a
    );
    assert!(Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, Some(100)).is_err());
}

#[test]
fn sizes_follow_the_input_shape() {
    assert_eq!(stem_stride([1, 28, 28]), 1);
    assert_eq!(stem_stride([3, 32, 32]), 1);
    assert_eq!(stem_stride([3, 64, 64]), 2);
    assert_eq!(stem_stride([3, 224, 224]), 4);
    let a = Architecture::new(Preset::Small, [3, 96, 128], 10, 5, None).unwrap();
    assert_eq!((a.main.stem_stride, a.main.input), (2, 3));
    assert_eq!(a.main.stem_stride, a.adaptive.stem_stride);
    let e = Architecture::new(Preset::Small, [1, 3, 3], 10, 5, None).unwrap_err();
    assert!(e.contains("3x3 is too small"), "{e}");
    let e = Architecture::new(Preset::Small, [1, 28, 28], 10, 5, Some(50)).unwrap_err();
    assert!(e.contains("fixed cloud model"), "{e}");
}

#[test]
fn the_imagenet_presets_have_the_published_shapes() {
    let m = Architecture::new(Preset::Mobilenetv2, [3, 224, 224], 1000, 500, None).unwrap();
    assert_eq!(m.main.blocks.len(), 17);
    assert_eq!(m.main.out_channels(), 1280);
    assert_eq!(m.main.reductions(), 5);
    assert_eq!(m.adaptive.reductions(), 5, "A reaches F_M's 7x7");
    assert_eq!(
        m.cloud.blocks.len(),
        16,
        "ResNet-50: 3 + 4 + 6 + 3 bottlenecks"
    );
    assert_eq!(m.cloud.out_channels(), 2048);
    let r = Architecture::new(Preset::Resnet18, [3, 224, 224], 1000, 500, Some(34)).unwrap();
    assert_eq!(r.main.blocks.len(), 8);
    assert_eq!(r.main.out_channels(), 512);
    assert_eq!((r.main.reductions(), r.adaptive.reductions()), (5, 5));
    assert_eq!(
        r.cloud.blocks.len(),
        16,
        "ResNet-34: 3 + 4 + 6 + 3 basic blocks"
    );
    let e = Architecture::new(Preset::Resnet18, [3, 224, 224], 10, 5, Some(110)).unwrap_err();
    assert!(e.contains("18, 34, 50, 101, 152"), "{e}");
    let e = Architecture::new(Preset::Mobilenetv2, [3, 28, 28], 10, 5, None).unwrap_err();
    assert!(e.contains("at least 32 pixels"), "{e}");
}

#[test]
fn the_imagenet_blocks_run_and_agree_on_the_feature_map_at_any_side() {
    let device = Device::flex();
    for preset in [Preset::Mobilenetv2, Preset::Resnet18] {
        for side in [32, 45] {
            let arch = Architecture::new(preset, [3, side, side], 4, 2, Some(18)).unwrap();
            let x = Tensor::<4>::zeros([1, 3, side, side], &device);
            let (logits, f) = MainNet::new(&arch, &device).forward(x.clone());
            assert_eq!(logits.dims(), [1, 4]);
            let hard = ExtensionNet::new(&arch, &device).forward(x, f);
            assert_eq!(hard.dims(), [1, 2], "{preset} at {side}");
        }
    }
}
