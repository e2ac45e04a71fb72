#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weft_sim::fuzzing::sim_tape(data);
});
