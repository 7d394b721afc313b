// A whole file mapped into memory, read-only in effect: the mapping is private, so a write
// through it changes this process's copy only (never the file) and cannot fault.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bot {

class MappedFile {
 public:
  // Maps `path`; throws bot::Error ERR_ARGUMENT (with the system's reason) when it cannot be
  // opened or mapped. An empty file maps to size 0 and a null pointer.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bot
