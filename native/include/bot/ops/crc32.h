// CRC-32 (ISO-HDLC: polynomial 0xEDB88320 reflected, initial and final XOR 0xFFFFFFFF; zlib's
// crc32 and PNG's) of a byte range, for the checksums of packed data sets.
//
// crc32 processes 8 bytes per step with eight 256-entry tables (slice-by-8); crc32_reference
// shifts one bit at a time and is the oracle it is tested against.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bot {

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);
uint32_t crc32_reference(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace bot
