// Monitor records of the generated testbench wrapper (_fast_tb.py) on Verilator, by DPI-C:
// each record is two little-endian uint64 (low word, then high word), buffered here and
// written in blocks, instead of one formatted $fwrite per record (~1.5 k instructions each).
#include <cstdint>
#include <cstdio>

namespace {
constexpr std::size_t kWords = 8192;  // 64 KiB per write
std::FILE* rec_file = nullptr;
std::uint64_t rec_buf[kWords];
std::size_t rec_n = 0;

void rec_flush() {
    if (rec_file && rec_n) std::fwrite(rec_buf, sizeof rec_buf[0], rec_n, rec_file);
    rec_n = 0;
}
}  // namespace

extern "C" int hwsnn_rec_open(const char* path) {
    rec_n = 0;
    rec_file = std::fopen(path, "wb");
    return rec_file != nullptr;
}

extern "C" void hwsnn_rec(long long hi, long long lo) {
    rec_buf[rec_n++] = static_cast<std::uint64_t>(lo);
    rec_buf[rec_n++] = static_cast<std::uint64_t>(hi);
    if (rec_n == kWords) rec_flush();
}

extern "C" int hwsnn_rec_close() {  // 1 when every record reached the file
    rec_flush();
    int ok = rec_file != nullptr && std::fclose(rec_file) == 0;
    rec_file = nullptr;
    return ok;
}
