#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weft_pcap::fuzzing::pcap_file(data);
});
