// APR v2 writer, following the spec's writer recipe (shared/formats/APR_V2.md §12): index sorted
// by name, data in index order at 64-byte alignment, header CRC, footer CRC-32 of every byte
// before it. Compressed files (§5) keep the header raw and compress image[64, end) — footer
// included — as one stream.
#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "base/crc32.hpp"
#include "base/json.hpp"
#include "codec/codec.hpp"
#include "format/apr_v2.hpp"
#include "gen/output_file.hpp"

namespace ringload::gen {
namespace {

constexpr std::uint64_t kHeaderBytes = kAprHeaderSize;
constexpr std::uint64_t kAlignment = kAprAlignment;
constexpr std::size_t kMaxNameBytes = 256;  // aprender's writer truncates longer names
constexpr std::size_t kMaxDims = kAprMaxRank;
constexpr int kZstdLevel = 3;

static_assert(std::endian::native == std::endian::little, "APR is written little-endian");

// Current aprender codes (APR_V2.md §8); never the ambiguous legacy 2, 8, 9.
std::optional<std::uint8_t> apr_dtype_code(DType dtype) {
  switch (dtype) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::F64: return 3;
    case DType::I32: return 4;
    case DType::I64: return 5;
    case DType::I8: return 6;
    case DType::U8: return 7;
    case DType::Q4_K: return 12;
    case DType::Q6_K: return 14;
    case DType::BF16: return 30;
    case DType::APR_Q4: return 128;
    case DType::APR_Q8: return 129;
    default: return std::nullopt;
  }
}

bool is_quantized(DType dtype) {
  return dtype == DType::APR_Q4 || dtype == DType::APR_Q8 || dtype == DType::Q4_K || dtype == DType::Q6_K;
}

std::uint64_t align64(std::uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

template <class T>
void put(std::vector<std::byte>& out, T value) {
  std::array<std::byte, sizeof(T)> raw{};
  std::memcpy(raw.data(), &value, sizeof(T));
  out.insert(out.end(), raw.begin(), raw.end());
}

template <class T>
void put_at(std::span<std::byte> out, std::size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof(T));
}

// Everything before the data section, and where each tensor goes.
struct Layout {
  std::vector<std::size_t> order;  // tensors by name: the index order and the data order
  std::vector<std::byte> prefix;   // header ‖ metadata ‖ pad ‖ index ‖ pad (data_offset bytes)
  std::uint64_t image_bytes = 0;   // prefix + padded tensors + footer
};

// Compact JSON with model_type first (aprender requires the key; realizar reads it first).
std::string metadata_json(const nlohmann::ordered_json& metadata) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  auto type = metadata.find("model_type");
  out["model_type"] = type != metadata.end() ? *type : nlohmann::ordered_json("");
  for (const auto& [key, value] : metadata.items()) {
    if (key != "model_type") out[key] = value;
  }
  return dump_json(out);
}

Result<void> check_apr_tensor(const TensorSpec& t) {
  const auto fail = [&](std::string message) {
    return make_error(ErrorKind::invalid_argument, std::move(message), std::nullopt, t.name);
  };
  if (t.name.size() > kMaxNameBytes) {
    return fail(
        fmt::format("APR tensor names have at most {} bytes; this one has {}", kMaxNameBytes, t.name.size()));
  }
  if (t.shape.size() > kMaxDims) return fail(fmt::format("APR tensors have at most {} dims", kMaxDims));
  return {};
}

std::vector<std::byte> index_bytes(std::span<const TensorSpec> tensors, std::span<const std::size_t> order) {
  std::vector<std::byte> out;
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const TensorSpec& t = tensors[i];
    put(out, static_cast<std::uint16_t>(t.name.size()));
    const auto* name = reinterpret_cast<const std::byte*>(t.name.data());
    out.insert(out.end(), name, name + t.name.size());
    put(out, *apr_dtype_code(t.dtype));  // check_tensor_specs let only APR dtypes through
    put(out, static_cast<std::uint8_t>(t.shape.size()));
    for (std::uint64_t dim : t.shape) put(out, dim);
    put(out, offset);
    put(out, t.size);
    offset += align64(t.size);
  }
  return out;
}

std::uint16_t header_flags(const GenOptions& options, std::span<const TensorSpec> tensors) {
  std::uint16_t flags = apr_flag::layout_row_major;
  if (std::any_of(tensors.begin(), tensors.end(),
                  [](const TensorSpec& t) { return is_quantized(t.dtype); })) {
    flags |= apr_flag::quantized;
  }
  if (options.compression == Compression::lz4) flags |= apr_flag::lz4;
  if (options.compression == Compression::zstd) flags |= apr_flag::zstd;
  return flags;
}

Result<Layout> plan_layout(const GenOptions& options, std::span<const TensorSpec> tensors,
                           const nlohmann::ordered_json& metadata) {
  if (tensors.size() > std::numeric_limits<std::uint32_t>::max()) {
    return make_error(ErrorKind::invalid_argument, "APR holds at most 2^32-1 tensors");
  }
  for (const TensorSpec& t : tensors) RINGLOAD_TRY_VOID(check_apr_tensor(t));
  const std::string meta = metadata_json(metadata);
  if (meta.size() > std::numeric_limits<std::uint32_t>::max()) {
    return make_error(ErrorKind::invalid_argument, "APR metadata is limited to 4 GiB of JSON");
  }

  Layout layout;
  layout.order.resize(tensors.size());
  std::iota(layout.order.begin(), layout.order.end(), std::size_t{0});
  // Byte-wise name order: std::string compares as unsigned char, like Rust's String.
  std::sort(layout.order.begin(), layout.order.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].name < tensors[b].name; });
  const std::vector<std::byte> index = index_bytes(tensors, layout.order);

  const std::uint64_t index_offset = kHeaderBytes + align64(meta.size());
  const std::uint64_t data_offset = index_offset + align64(index.size());
  std::vector<std::byte>& prefix = layout.prefix;
  prefix.assign(data_offset, std::byte{0});
  const std::span<std::byte> header(prefix.data(), kHeaderBytes);
  std::memcpy(header.data(), "APR\0", 4);
  put_at<std::uint8_t>(header, 4, 2);  // version 2.0
  put_at<std::uint8_t>(header, 5, 0);
  put_at<std::uint16_t>(header, 6, header_flags(options, tensors));
  put_at<std::uint32_t>(header, 8, static_cast<std::uint32_t>(tensors.size()));
  put_at<std::uint64_t>(header, 12, kHeaderBytes);
  put_at<std::uint32_t>(header, 20, static_cast<std::uint32_t>(meta.size()));
  put_at<std::uint64_t>(header, 24, index_offset);
  put_at<std::uint64_t>(header, 32, data_offset);
  // The header CRC covers the header with its own field cut out: [0, 40) ‖ [44, 64).
  const std::uint32_t crc = crc32_update(crc32(header.first(40)), header.subspan(44));
  put_at<std::uint32_t>(header, 40, crc);
  std::memcpy(prefix.data() + kHeaderBytes, meta.data(), meta.size());
  std::memcpy(prefix.data() + index_offset, index.data(), index.size());

  layout.image_bytes = data_offset + 4;
  for (const TensorSpec& t : tensors) layout.image_bytes += align64(t.size);
  return layout;
}

// Passes bytes on while keeping the CRC-32 of everything that went through.
class CrcSink final : public ByteSink {
 public:
  // `crc` covers bytes before these that went elsewhere (a compressed file's raw header).
  CrcSink(ByteSink& next, std::uint32_t crc) : next_(next), crc_(crc) {}
  Result<void> write(std::span<const std::byte> bytes) override {
    crc_ = crc32_update(crc_, bytes);
    return next_.write(bytes);
  }
  [[nodiscard]] std::uint32_t crc() const { return crc_; }

 private:
  ByteSink& next_;
  std::uint32_t crc_;
};

struct ZstdContextFree {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};

Error zstd_error(std::size_t code, const char* what) {
  return make_error(ErrorKind::io, fmt::format("zstd {} failed: {}", what, ZSTD_getErrorName(code)));
}

// One zstd frame, streamed: memory stays at zstd's window plus one output buffer.
class ZstdSink final : public ByteSink {
 public:
  static Result<std::unique_ptr<ZstdSink>> create(ByteSink& next, std::uint64_t input_bytes) {
    std::unique_ptr<ZSTD_CCtx, ZstdContextFree> context(ZSTD_createCCtx());
    if (!context) return make_error(ErrorKind::out_of_memory, "cannot create a zstd compression context");
    for (auto [param, value] :
         {std::pair{ZSTD_c_compressionLevel, kZstdLevel}, std::pair{ZSTD_c_checksumFlag, 1}}) {
      if (const std::size_t r = ZSTD_CCtx_setParameter(context.get(), param, value); ZSTD_isError(r)) {
        return zstd_error(r, "setParameter");
      }
    }
    // The frame header then records the content size, so a reader can size its buffer once.
    if (const std::size_t r = ZSTD_CCtx_setPledgedSrcSize(context.get(), input_bytes); ZSTD_isError(r)) {
      return zstd_error(r, "setPledgedSrcSize");
    }
    return std::unique_ptr<ZstdSink>(new ZstdSink(next, std::move(context)));
  }

  Result<void> write(std::span<const std::byte> bytes) override {
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    while (in.pos < in.size) RINGLOAD_TRY_VOID(step(in, ZSTD_e_continue));
    return {};
  }

  Result<void> finish() {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (RINGLOAD_TRY(step(in, ZSTD_e_end)) != 0) {
    }
    return {};
  }

 private:
  ZstdSink(ByteSink& next, std::unique_ptr<ZSTD_CCtx, ZstdContextFree> context)
      : next_(next), context_(std::move(context)), out_(ZSTD_CStreamOutSize()) {}

  // One compressStream2 call and the output it made; returns what zstd says is left to flush.
  Result<std::size_t> step(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{out_.data(), out_.size(), 0};
    const std::size_t left = ZSTD_compressStream2(context_.get(), &out, &in, mode);
    if (ZSTD_isError(left)) return zstd_error(left, "compressStream2");
    RINGLOAD_TRY_VOID(next_.write(std::span(out_.data(), out.pos)));
    return left;
  }

  ByteSink& next_;
  std::unique_ptr<ZSTD_CCtx, ZstdContextFree> context_;
  std::vector<std::byte> out_;
};

// LZ4's block format needs the whole payload at once: collect it, compress at the end.
class Lz4Sink final : public ByteSink {
 public:
  Lz4Sink(ByteSink& next, std::uint64_t input_bytes) : next_(next) {
    payload_.reserve(static_cast<std::size_t>(input_bytes));
  }
  Result<void> write(std::span<const std::byte> bytes) override {
    payload_.insert(payload_.end(), bytes.begin(), bytes.end());
    return {};
  }
  Result<void> finish() {
    const std::vector<std::byte> compressed = RINGLOAD_TRY(lz4_compress_size_prepended(payload_));
    payload_ = {};
    return next_.write(compressed);
  }

 private:
  ByteSink& next_;
  std::vector<std::byte> payload_;
};

// Streams image[from, end): the prefix from `from`, the tensors with padding, the footer CRC.
// `crc` has already seen image[0, from).
Result<void> write_image(CrcSink& crc, const Layout& layout, std::uint64_t from, const GenOptions& options,
                         std::span<const TensorSpec> tensors, ProgressMeter& progress) {
  RINGLOAD_TRY_VOID(crc.write(std::span(layout.prefix).subspan(from)));
  progress.add(layout.prefix.size() - from);
  std::vector<std::byte> scratch(kChunkBytes);
  for (std::size_t i : layout.order) {
    const TensorSpec& t = tensors[i];
    RINGLOAD_TRY_VOID(
        write_tensor_data(crc, tensor_key(options.seed, t.name), t.dtype, t.size, scratch, progress));
    RINGLOAD_TRY_VOID(crc.write_zeros(align64(t.size) - t.size));
    progress.add(align64(t.size) - t.size);
  }
  std::array<std::byte, 4> footer{};
  put_at<std::uint32_t>(footer, 0, crc.crc());
  RINGLOAD_TRY_VOID(crc.write(footer));
  progress.add(footer.size());
  return {};
}

}  // namespace

Result<GenReport> write_apr(const std::filesystem::path& out, const GenOptions& options,
                            std::span<const TensorSpec> tensors, const nlohmann::ordered_json& metadata) {
  const Layout layout = RINGLOAD_TRY(plan_layout(options, tensors, metadata));
  const std::uint64_t payload_bytes = layout.image_bytes - kHeaderBytes;
  if (options.compression == Compression::lz4 && payload_bytes > LZ4_MAX_INPUT_SIZE) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("an LZ4-compressed APR payload is one LZ4 block of at most {} bytes; this "
                                  "one would be {} (use zstd)",
                                  LZ4_MAX_INPUT_SIZE, payload_bytes));
  }

  GenReport report;
  report.tensor_count = static_cast<std::uint32_t>(tensors.size());
  for (const TensorSpec& t : tensors) report.tensor_bytes += t.size;

  auto file = RINGLOAD_TRY(OutputFile::create(out));
  ProgressMeter progress(options.progress, layout.image_bytes);
  const auto header = std::span(layout.prefix).first(kHeaderBytes);
  switch (options.compression) {
    case Compression::none: {
      CrcSink crc(file, 0);
      RINGLOAD_TRY_VOID(write_image(crc, layout, 0, options, tensors, progress));
      break;
    }
    case Compression::zstd: {
      // The header stays raw (readers learn the compression from it) but is in the footer CRC.
      RINGLOAD_TRY_VOID(file.write(header));
      progress.add(header.size());
      auto zstd = RINGLOAD_TRY(ZstdSink::create(file, payload_bytes));
      CrcSink crc(*zstd, crc32(header));
      RINGLOAD_TRY_VOID(write_image(crc, layout, kHeaderBytes, options, tensors, progress));
      RINGLOAD_TRY_VOID(zstd->finish());
      break;
    }
    case Compression::lz4: {
      RINGLOAD_TRY_VOID(file.write(header));
      progress.add(header.size());
      Lz4Sink lz4(file, payload_bytes);
      CrcSink crc(lz4, crc32(header));
      RINGLOAD_TRY_VOID(write_image(crc, layout, kHeaderBytes, options, tensors, progress));
      RINGLOAD_TRY_VOID(lz4.finish());
      break;
    }
  }
  report.file_bytes = file.bytes_written();
  RINGLOAD_TRY_VOID(file.commit());
  progress.finish();
  return report;
}

}  // namespace ringload::gen
