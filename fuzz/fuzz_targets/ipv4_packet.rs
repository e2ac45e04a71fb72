#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weft_wire::fuzzing::ipv4::ipv4_packet(data);
});
