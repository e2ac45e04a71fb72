#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weft_core::fuzzing::tcp_ops(data);
});
