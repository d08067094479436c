#include "ringload/model.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <ostream>

#include <fmt/format.h>

#include "base/utf8.hpp"
#include "format/apr_v2.hpp"
#include "format/detect.hpp"
#include "format/table.hpp"
#include "io/file.hpp"
#include "io/mapping.hpp"
#include "io/page_cache.hpp"
#include "model/header_prefetch.hpp"

namespace ringload {

std::string_view to_string(Format format) noexcept {
  switch (format) {
    case Format::apr: return "apr";
    case Format::safetensors: return "safetensors";
    case Format::gguf: return "gguf";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, Format format) { return out << to_string(format); }

struct Model::Impl {
  std::string path;
  UniqueFd fd;                  // kept open for fadvise and the pipeline's reads
  Mapping mapping;              // uncompressed files
  std::vector<std::byte> heap;  // compressed APR, from_bytes, or a file system without mmap
  bool mapped = false;
  std::uint64_t file_size = 0;
  TensorTable table;
  std::map<std::string, std::size_t, std::less<>> by_name;

  [[nodiscard]] std::span<const std::byte> image() const noexcept {
    return mapped ? mapping.bytes() : std::span<const std::byte>(heap);
  }
  Result<void> finish(Format format, const ModelOptions& options);
};

namespace {

Error with_path(Error e, const std::string& path) {
  if (e.path.empty()) e.path = escape_invalid_utf8(path);  // error text is UTF-8, paths need not be
  return e;
}

}  // namespace

// Parses the image (heap or mapping) and fills the table; errors get the path.
Result<void> Model::Impl::finish(Format format, const ModelOptions& options) {
  auto parsed = parse_table(format, image(), ParseOptions{.verify_checksum = options.verify_checksum});
  if (!parsed) return with_path(std::move(parsed).error(), path);
  table = std::move(parsed).value();
  for (std::size_t i = 0; i < table.tensors.size(); ++i) {
    const TensorInfo& t = table.tensors[i];
    if (!by_name.emplace(t.name, i).second) {
      return with_path(make_error(ErrorKind::duplicate_name, "two tensors have this name", t.offset, t.name),
                       path);
    }
  }
  return {};
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&& other) noexcept = default;
Model& Model::operator=(Model&& other) noexcept = default;
Model::~Model() = default;

Result<Model> Model::load(const std::filesystem::path& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path.string();
  impl->fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  impl->file_size = RINGLOAD_TRY(ringload::file_size(impl->fd.get(), impl->path));

  // Sniff the format from the first bytes with a plain read: an empty or tiny file must never be
  // mapped (mmap of length 0 fails, and a mapping past EOF SIGBUSes).
  const FileHead head = RINGLOAD_TRY(read_head(impl->fd.get(), impl->file_size, impl->path));
  auto format = detect_format(head.span());
  if (!format) return with_path(std::move(format).error(), impl->path);

  if (*format == Format::apr && apr_is_compressed(head.span())) {
    auto raw = RINGLOAD_TRY(read_file(path));
    // The decoded image is all a model needs from now on: the compressed bytes read through the
    // page cache would otherwise stay there after every load (nothing left behind).
    RINGLOAD_TRY_VOID(drop_file_cache(impl->fd.get(), 0, 0, impl->path));
    auto image = apr_decompressed_image(raw);
    if (!image) return with_path(std::move(image).error(), impl->path);
    if (image->has_value()) impl->heap = std::move(**image);
  } else {
    auto mapping = Mapping::map(impl->fd.get(), impl->file_size, impl->path);
    if (mapping) {
      impl->mapping = std::move(mapping).value();
      impl->mapped = true;
      // The header only: a load reads the tensors on its own terms (O_DIRECT, or a window of its
      // own), and under --mpi another rank may have dropped this header's pages just before.
      prefetch_header(impl->mapping, *format, head);
    } else if (mapping.error().os_errno == ENODEV) {
      // ENODEV: some network file systems cannot be mapped shared; read the file instead.
      impl->heap = RINGLOAD_TRY(read_file(path));
      RINGLOAD_TRY_VOID(drop_file_cache(impl->fd.get(), 0, 0, impl->path));
    } else {
      return std::move(mapping).error();
    }
  }
  RINGLOAD_TRY_VOID(impl->finish(*format, options));
  // Readahead back on for the mmap strategies and tensor_bytes() readers.
  if (impl->mapped) restore_readahead(impl->mapping);
  return Model(std::move(impl));
}

Result<Model> Model::from_bytes(std::vector<std::byte> bytes, std::string origin,
                                const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = std::move(origin);
  impl->file_size = bytes.size();
  auto format = detect_format(std::span(bytes).first(std::min<std::size_t>(bytes.size(), kAprHeaderSize)));
  if (!format) return with_path(std::move(format).error(), impl->path);
  if (*format == Format::apr) {
    auto image = apr_decompressed_image(bytes);
    if (!image) return with_path(std::move(image).error(), impl->path);
    impl->heap = image->has_value() ? std::move(**image) : std::move(bytes);
  } else {
    impl->heap = std::move(bytes);
  }
  RINGLOAD_TRY_VOID(impl->finish(*format, options));
  return Model(std::move(impl));
}

const std::string& Model::path() const noexcept { return impl_->path; }
Format Model::format() const noexcept { return impl_->table.format; }
bool Model::is_mmap() const noexcept { return impl_->mapped; }
std::uint64_t Model::file_size() const noexcept { return impl_->file_size; }
std::span<const std::byte> Model::image() const noexcept { return impl_->image(); }
std::uint64_t Model::data_offset() const noexcept { return impl_->table.data_offset; }
std::uint64_t Model::alignment() const noexcept { return impl_->table.alignment; }
std::span<const TensorInfo> Model::tensors() const noexcept { return impl_->table.tensors; }
const MetadataValue& Model::metadata() const noexcept { return impl_->table.metadata; }
int Model::fd() const noexcept { return impl_->mapped ? impl_->fd.get() : -1; }

std::vector<std::string> Model::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(impl_->table.tensors.size());
  for (const auto& t : impl_->table.tensors) names.push_back(t.name);
  return names;
}

Result<TensorInfo> Model::tensor(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) {
    Error e =
        make_error(ErrorKind::not_found,
                   fmt::format("no such tensor (the file has {} tensors; `ringload inspect` lists them)",
                               impl_->table.tensors.size()),
                   std::nullopt, std::string(name));
    return with_path(std::move(e), impl_->path);
  }
  return impl_->table.tensors[it->second];
}

Result<std::span<const std::byte>> Model::tensor_bytes(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) return tensor(name).error();
  const TensorInfo& t = impl_->table.tensors[it->second];
  // The parsers guarantee offset + size ≤ image size.
  return impl_->image().subspan(t.offset, t.size);
}

Result<void> Model::release_cpu_pages() const {
  if (!impl_->mapped) return {};
  auto advised = impl_->mapping.advise(0, impl_->mapping.size(), MADV_DONTNEED, /*outward=*/true);
  if (!advised) return with_path(std::move(advised).error(), impl_->path);
  return drop_file_cache(impl_->fd.get(), 0, 0, impl_->path);
}

Result<void> Model::release_tensor_pages(std::string_view name) const {
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) return tensor(name).error();
  if (!impl_->mapped) return {};
  const TensorInfo& t = impl_->table.tensors[it->second];
  auto advised = impl_->mapping.advise(t.offset, t.size, MADV_DONTNEED, /*outward=*/false);
  if (!advised) return with_path(std::move(advised).error(), impl_->path);
  // fadvise itself rounds inward to whole pages, so the shared edge pages stay cached.
  if (t.size == 0) return {};
  return drop_file_cache(impl_->fd.get(), t.offset, t.size, impl_->path);
}

}  // namespace ringload
