//! The CIFAR-10 and CIFAR-100 binary readers.
fn main() {
    let path = std::path::Path::new("fuzz.bin");
    afl::fuzz!(|data: &[u8]| {
        let (ctl, bytes) = meanet_fuzz::split(data);
        let kind = if ctl & 1 == 0 {
            meanet_data::CifarKind::Cifar10
        } else {
            meanet_data::CifarKind::Cifar100
        };
        if let Ok((pixels, labels)) = meanet_data::parse_cifar(bytes, kind, path) {
            assert_eq!(pixels.len(), labels.len() * 3072);
        }
    });
}
