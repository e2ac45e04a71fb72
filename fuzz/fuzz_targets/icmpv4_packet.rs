#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weft_wire::fuzzing::icmpv4::icmpv4_packet(data);
});
