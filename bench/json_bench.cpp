// The safetensors header through each JSON parser we could maintain instead of a hand-written
// tokenizer (issue 10, item 5): nlohmann's SAX interface and simdjson's On-Demand API, each
// decoding straight into tensor entries with what the production decoder must do as well: keep
// every tensor name, dtype, shape and data_offsets, note where each entry's key starts (error
// offsets name the entry at fault), reject duplicate keys at any depth, check every value of
// unknown fields (a strict parser validates what it skips) and stop past 128 levels of nesting.
// BM_ParseSafetensors is the production parser (parse_safetensors: the JSON and every rule),
// for scale. Headers come from `ringload gen` models of 1,000 and 20,000 tensors (64 MiB files,
// shared with model_bench under $RINGLOAD_BENCH_DIR, default ./bench-data).
// Run: build/bench/json_bench (see README.md).
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/table.hpp"
#include "gen/gen.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kModelBytes = 64ULL << 20;
constexpr int kMaxDepth = 128;
constexpr int kRepetitions = 9;
constexpr double kMinTimeS = 0.2;

fs::path bench_dir() {
  const char* env = std::getenv("RINGLOAD_BENCH_DIR");
  fs::path dir = env != nullptr ? fs::path(env) : fs::current_path() / "bench-data";
  fs::create_directories(dir);
  return dir;
}

// The whole file of a generated safetensors model with `tensors` tensors (model_bench's name).
const std::vector<std::byte>& model_image(std::uint32_t tensors) {
  static std::map<std::uint32_t, std::vector<std::byte>> cache;
  if (auto it = cache.find(tensors); it != cache.end()) return it->second;
  const fs::path path = bench_dir() / fmt::format("safetensors-{}-{}.safetensors", kModelBytes, tensors);
  if (!fs::exists(path)) {
    ringload::gen::GenOptions options;
    options.format = ringload::Format::safetensors;
    options.target_bytes = kModelBytes;
    options.tensor_count = tensors;
    options.dtype = ringload::DType::BF16;
    if (auto report = ringload::gen::generate(path, options); !report) {
      fmt::print(stderr, "cannot generate {}: {}\n", path.string(), report.error().to_string());
      std::exit(1);
    }
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return cache.emplace(tensors, std::move(bytes)).first->second;
}

std::string_view header_of(const std::vector<std::byte>& image) {
  std::uint64_t length = 0;
  std::memcpy(&length, image.data(), sizeof length);
  return {reinterpret_cast<const char*>(image.data()) + 8, length};
}

// What both candidates produce.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::size_t key_offset = 0;  // the opening quote of the entry's key
  bool valid = true;           // every field present with the right type
};

struct Decoded {
  std::vector<Entry> entries;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Keys of one nested object: a scan, as objects inside unknown fields are small.
bool insert_small(std::vector<std::string>& keys, std::string_view key) {
  for (const auto& k : keys) {
    if (k == key) return false;
  }
  keys.emplace_back(key);
  return true;
}

// The keys of one tensor entry: the three known ones as bits, others (rare) in a list.
class EntryKeys {
 public:
  bool insert(std::string_view key) {
    const unsigned bit = key == "dtype" ? 1U : key == "shape" ? 2U : key == "data_offsets" ? 4U : 0U;
    if (bit == 0) return insert_small(others_, key);
    if ((bits_ & bit) != 0) return false;
    bits_ |= bit;
    return true;
  }

 private:
  unsigned bits_ = 0;
  std::vector<std::string> others_;
};

// Tensor names seen so far, as indices into the entries (whose names are the keys): open
// addressing, no allocation per name, and stable while the entries vector grows.
class NameTable {
 public:
  explicit NameTable(std::size_t expected)
      : slots_(std::bit_ceil(std::max<std::size_t>(expected * 2, 16)), kFree) {}

  // False when an earlier entry has the name of entries[index].
  bool insert(const std::vector<Entry>& entries, std::uint32_t index) {
    if ((count_ + 1) * 2 > slots_.size()) grow(entries);
    const std::string_view name = entries[index].name;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = std::hash<std::string_view>{}(name)&mask;; slot = (slot + 1) & mask) {
      if (slots_[slot] == kFree) {
        slots_[slot] = index;
        ++count_;
        return true;
      }
      if (entries[slots_[slot]].name == name) return false;
    }
  }

 private:
  static constexpr std::uint32_t kFree = UINT32_MAX;
  void grow(const std::vector<Entry>& entries) {
    std::vector<std::uint32_t> old =
        std::exchange(slots_, std::vector<std::uint32_t>(slots_.size() * 2, kFree));
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t index : old) {
      if (index == kFree) continue;
      std::size_t slot = std::hash<std::string_view>{}(entries[index].name) & mask;
      while (slots_[slot] != kFree) slot = (slot + 1) & mask;
      slots_[slot] = index;
    }
  }
  std::vector<std::uint32_t> slots_;
  std::size_t count_ = 0;
};

// A header of `bytes` holds at most about bytes / 50 entries (the smallest valid one is ~50).
std::size_t expected_entries(std::size_t bytes) { return bytes / 50; }

// ---------------------------------------------------------------------------------------------
// Candidate 1: nlohmann::json::sax_parse. The SAX events carry no positions, so the input goes
// through an iterator that publishes how far the lexer has read; at key() it has just read the
// closing quote, and the opening one is found by scanning back.

class TrackedIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackedIterator() = default;
  TrackedIterator(const char* at, const char** cursor) : at_(at), cursor_(cursor) {}
  reference operator*() const { return *at_; }
  TrackedIterator& operator++() {
    ++at_;
    *cursor_ = at_;
    return *this;
  }
  TrackedIterator operator++(int) {
    TrackedIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const TrackedIterator& other) const { return at_ == other.at_; }

 private:
  const char* at_ = nullptr;
  const char** cursor_ = nullptr;
};

// The opening quote of the string whose closing quote is just before `past_close`: inside a
// string a quote is always preceded by an odd run of backslashes, the opening one by none.
std::size_t opening_quote(std::string_view text, std::size_t past_close) {
  std::size_t at = past_close - 1;
  for (;;) {
    --at;
    if (text[at] != '"') continue;
    std::size_t slashes = 0;
    while (text[at - 1 - slashes] == '\\') ++slashes;
    if (slashes % 2 == 0) return at;
  }
}

class SaxDecoder {
 public:
  using Json = nlohmann::json;
  SaxDecoder(std::string_view text, Decoded& out)
      : text_(text), cursor_(text.data()), out_(out), names_(expected_entries(text.size())) {}

  bool run() {
    TrackedIterator first(text_.data(), &cursor_);
    TrackedIterator last(text_.data() + text_.size(), &cursor_);
    return Json::sax_parse(first, last, this, nlohmann::detail::input_format_t::json, /*strict=*/true);
  }

  bool null() { return other_value(); }
  bool boolean(bool) { return other_value(); }
  bool number_integer(Json::number_integer_t) { return other_value(); }
  bool number_unsigned(Json::number_unsigned_t value) {
    if (depth_ != 3 || array_ == Field::other) return other_value();
    Entry& e = out_.entries.back();
    if (array_ == Field::shape) {
      e.shape.push_back(value);
    } else if (offsets_seen_ == 0) {
      e.begin = value, ++offsets_seen_;
    } else if (offsets_seen_ == 1) {
      e.end = value, ++offsets_seen_;
    } else {
      e.valid = false;
    }
    return true;
  }
  bool number_float(Json::number_float_t, const std::string&) { return other_value(); }
  bool string(std::string& value) {
    if (depth_ == 2 && in_entry_ && field_ == Field::dtype) {
      out_.entries.back().dtype = std::move(value);
      dtype_seen_ = true;
      return true;
    }
    if (depth_ == 2 && in_metadata_) {
      out_.metadata.emplace_back(std::move(metadata_key_), std::move(value));
      return true;
    }
    return other_value();
  }
  bool binary(Json::binary_t&) { return false; }

  bool start_object(std::size_t) {
    if (++depth_ > kMaxDepth) return false;
    if (depth_ > 1) nested_keys_.emplace_back();
    if (depth_ == 2 && !in_metadata_) {
      in_entry_ = true;
      dtype_seen_ = false;
      offsets_seen_ = 0;
      entry_keys_ = EntryKeys{};
    } else {
      other_value();
    }
    return true;
  }
  bool key(std::string& key) {
    if (depth_ == 1) {
      in_metadata_ = key == "__metadata__";
      if (in_metadata_) return !std::exchange(metadata_seen_, true);
      Entry& e = out_.entries.emplace_back();
      e.name = std::move(key);
      e.key_offset = opening_quote(text_, static_cast<std::size_t>(cursor_ - text_.data()));
      return names_.insert(out_.entries, static_cast<std::uint32_t>(out_.entries.size() - 1));
    }
    if (depth_ == 2 && in_entry_) {
      if (!entry_keys_.insert(key)) return false;
      field_ = key == "dtype"          ? Field::dtype
               : key == "shape"        ? Field::shape
               : key == "data_offsets" ? Field::data_offsets
                                       : Field::other;
      return true;
    }
    if (!insert_small(nested_keys_.back(), key)) return false;
    if (depth_ == 2 && in_metadata_) metadata_key_ = std::move(key);
    return true;
  }
  bool end_object() {
    if (depth_ == 2 && in_entry_) {
      if (!dtype_seen_ || offsets_seen_ != 2) out_.entries.back().valid = false;
      in_entry_ = false;
    }
    if (depth_ > 1) nested_keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    if (++depth_ > kMaxDepth) return false;
    if (depth_ == 3 && in_entry_ && (field_ == Field::shape || field_ == Field::data_offsets)) {
      array_ = field_;
    } else {
      other_value();
    }
    return true;
  }
  bool end_array() {
    if (depth_ == 3) array_ = Field::other;
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  enum class Field : std::uint8_t { dtype, shape, data_offsets, other };

  // A value where an entry wanted something else is still valid JSON: only noted.
  bool other_value() {
    if (depth_ == 2 && !in_metadata_ && !in_entry_) out_.entries.back().valid = false;
    if (depth_ == 3 && in_entry_ && field_ != Field::other) out_.entries.back().valid = false;
    if (depth_ == 4 && array_ != Field::other) out_.entries.back().valid = false;
    return true;
  }

  std::string_view text_;
  const char* cursor_;
  Decoded& out_;
  NameTable names_;
  int depth_ = 0;
  std::vector<std::vector<std::string>> nested_keys_;
  std::string metadata_key_;
  bool metadata_seen_ = false;
  bool in_entry_ = false;
  bool in_metadata_ = false;
  bool dtype_seen_ = false;
  int offsets_seen_ = 0;
  EntryKeys entry_keys_;
  Field field_ = Field::other;
  Field array_ = Field::other;
};

// ---------------------------------------------------------------------------------------------
// Candidate 2: simdjson On-Demand, in place when SIMDJSON_PADDING bytes of the file follow the
// header (as in these files), over a padded copy otherwise. On-Demand checks only what is read,
// so unknown values are read to the last scalar.

namespace od = simdjson::ondemand;

class OnDemandDecoder {
 public:
  // `readable` bytes from text.data() on may be read: SIMDJSON_PADDING past the text is enough.
  OnDemandDecoder(std::string_view text, std::size_t readable, Decoded& out)
      : out_(out), names_(expected_entries(text.size())) {
    if (readable >= text.size() + simdjson::SIMDJSON_PADDING) {
      view_ = simdjson::padded_string_view(text.data(), text.size(), readable);
    } else {
      copy_ = simdjson::padded_string(text);
      view_ = copy_;
    }
  }

  bool run() {
    od::document doc;
    if (parser_.iterate(view_).get(doc) != simdjson::SUCCESS) return false;
    od::object root;
    if (doc.get_object().get(root) != simdjson::SUCCESS) return false;
    bool metadata_seen = false;
    for (auto field : root) {
      // The raw key first: unescaped_key() consumes it.
      const auto key_offset = static_cast<std::size_t>(field.key().value_unsafe().raw() - 1 - view_.data());
      std::string_view name;
      if (field.unescaped_key().get(name) != simdjson::SUCCESS) return false;
      od::value value;
      if (field.value().get(value) != simdjson::SUCCESS) return false;
      if (name == "__metadata__") {
        if (std::exchange(metadata_seen, true) || !metadata(value)) return false;
        continue;
      }
      Entry& e = out_.entries.emplace_back();
      e.name = name;
      e.key_offset = key_offset;
      if (!names_.insert(out_.entries, static_cast<std::uint32_t>(out_.entries.size() - 1))) return false;
      if (!entry(e, value)) return false;
    }
    // On-Demand leaves trailing tokens after the root to the caller.
    return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
  }

 private:
  bool entry(Entry& e, od::value& value) {
    od::object fields;
    if (value.get_object().get(fields) != simdjson::SUCCESS) {
      e.valid = false;
      return validate(value, 2);
    }
    EntryKeys keys;
    bool dtype_seen = false;
    int offsets_seen = 0;
    for (auto field : fields) {
      std::string_view key;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS || !keys.insert(key)) return false;
      od::value v;
      if (field.value().get(v) != simdjson::SUCCESS) return false;
      if (key == "dtype") {
        std::string_view dtype;
        if (v.get_string().get(dtype) == simdjson::SUCCESS) {
          e.dtype = dtype;
          dtype_seen = true;
        } else if (e.valid = false; !validate(v, 3)) {
          return false;
        }
      } else if (key == "shape" || key == "data_offsets") {
        const bool shape = key == "shape";
        od::array array;
        if (v.get_array().get(array) != simdjson::SUCCESS) {
          e.valid = false;
          if (!validate(v, 3)) return false;
          continue;
        }
        for (auto element : array) {
          od::value item;
          if (element.get(item) != simdjson::SUCCESS) return false;
          std::uint64_t number = 0;
          if (item.get_uint64().get(number) != simdjson::SUCCESS) {
            e.valid = false;
            if (!validate(item, 4)) return false;
          } else if (shape) {
            e.shape.push_back(number);
          } else if (offsets_seen == 0) {
            e.begin = number, ++offsets_seen;
          } else if (offsets_seen == 1) {
            e.end = number, ++offsets_seen;
          } else {
            e.valid = false;
          }
        }
      } else if (!validate(v, 3)) {
        return false;
      }
    }
    if (!dtype_seen || offsets_seen != 2) e.valid = false;
    return true;
  }

  bool metadata(od::value& value) {
    od::object fields;
    if (value.get_object().get(fields) != simdjson::SUCCESS) return validate(value, 2);
    std::vector<std::string> keys;
    for (auto field : fields) {
      std::string_view key;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS || !insert_small(keys, key)) return false;
      od::value v;
      std::string_view text;
      if (field.value().get(v) != simdjson::SUCCESS) return false;
      if (v.get_string().get(text) != simdjson::SUCCESS) return validate(v, 3);
      out_.metadata.emplace_back(std::string(key), std::string(text));
    }
    return true;
  }

  // Reads every scalar of a value: On-Demand would otherwise skip it unchecked.
  bool validate(od::value& value, int depth) {
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return false;
    switch (type) {
      case od::json_type::object: {
        if (depth > kMaxDepth) return false;
        std::vector<std::string> keys;
        for (auto field : value.get_object()) {
          std::string_view key;
          if (field.unescaped_key().get(key) != simdjson::SUCCESS || !insert_small(keys, key)) return false;
          od::value v;
          if (field.value().get(v) != simdjson::SUCCESS || !validate(v, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::array: {
        if (depth > kMaxDepth) return false;
        for (auto element : value.get_array()) {
          od::value v;
          if (element.get(v) != simdjson::SUCCESS || !validate(v, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::string: return value.get_string().error() == simdjson::SUCCESS;
      case od::json_type::number: return value.get_double().error() == simdjson::SUCCESS;
      case od::json_type::boolean: return value.get_bool().error() == simdjson::SUCCESS;
      case od::json_type::null: return value.is_null().value_unsafe();
    }
    return false;
  }

  Decoded& out_;
  NameTable names_;
  simdjson::padded_string copy_;
  simdjson::padded_string_view view_;
  od::parser parser_;
};

// ---------------------------------------------------------------------------------------------

void report(benchmark::State& state, std::string_view header, std::size_t entries) {
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(header.size()));
  state.counters["header_KiB"] = static_cast<double>(header.size()) / 1024;
  state.counters["tensors"] = static_cast<double>(entries);
}

bool same(const Entry& a, const Entry& b) {
  return a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.begin == b.begin &&
         a.end == b.end && a.key_offset == b.key_offset && a.valid == b.valid;
}

// Both candidates must decode a header to the same entries (and key offsets) for the timings to
// compare like with like; the key offsets are checked against the text itself.
bool candidates_agree(const std::vector<std::byte>& image) {
  const std::string_view header = header_of(image);
  Decoded sax;
  Decoded on_demand;
  if (!SaxDecoder(header, sax).run() || !OnDemandDecoder(header, image.size() - 8, on_demand).run())
    return false;
  if (sax.metadata != on_demand.metadata || sax.entries.size() != on_demand.entries.size()) return false;
  for (std::size_t i = 0; i < sax.entries.size(); ++i) {
    const Entry& e = sax.entries[i];
    if (!same(e, on_demand.entries[i]) || !e.valid) return false;
    if (header.substr(e.key_offset, e.name.size() + 3) != fmt::format("\"{}\":", e.name)) return false;
  }
  return true;
}

void BM_NlohmannSax(benchmark::State& state) {
  const std::string_view header = header_of(model_image(static_cast<std::uint32_t>(state.range(0))));
  if (!candidates_agree(model_image(static_cast<std::uint32_t>(state.range(0))))) {
    state.SkipWithError("the candidates decode the header differently");
    return;
  }
  std::size_t entries = 0;
  for (auto _ : state) {
    Decoded out;
    out.entries.reserve(expected_entries(header.size()));
    SaxDecoder decoder(header, out);
    if (!decoder.run()) {
      state.SkipWithError("nlohmann SAX rejected the header");
      return;
    }
    entries = out.entries.size();
    benchmark::DoNotOptimize(out.entries.data());
  }
  report(state, header, entries);
}

void BM_SimdjsonOnDemand(benchmark::State& state, bool in_place) {
  const std::vector<std::byte>& image = model_image(static_cast<std::uint32_t>(state.range(0)));
  const std::string_view header = header_of(image);
  if (!candidates_agree(model_image(static_cast<std::uint32_t>(state.range(0))))) {
    state.SkipWithError("the candidates decode the header differently");
    return;
  }
  std::size_t entries = 0;
  for (auto _ : state) {
    Decoded out;
    out.entries.reserve(expected_entries(header.size()));
    // A parser per header, as the library keeps none; without the file's bytes after the header
    // to pad with, a padded copy.
    OnDemandDecoder decoder(header, in_place ? image.size() - 8 : header.size(), out);
    if (!decoder.run()) {
      state.SkipWithError("simdjson rejected the header");
      return;
    }
    entries = out.entries.size();
    benchmark::DoNotOptimize(out.entries.data());
  }
  report(state, header, entries);
}

void BM_ParseSafetensors(benchmark::State& state) {
  const std::vector<std::byte>& image = model_image(static_cast<std::uint32_t>(state.range(0)));
  std::size_t entries = 0;
  for (auto _ : state) {
    auto table = ringload::parse_safetensors(image);
    if (!table) {
      state.SkipWithError(table.error().to_string().c_str());
      return;
    }
    entries = table->tensors.size();
    benchmark::DoNotOptimize(table->tensors.data());
  }
  report(state, header_of(image), entries);
}

void common(benchmark::internal::Benchmark* b) {
  b->Arg(1000)->Arg(20000);
  b->Repetitions(kRepetitions)->ReportAggregatesOnly(true)->MinTime(kMinTimeS);
  b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_NlohmannSax)->Apply(common);
BENCHMARK_CAPTURE(BM_SimdjsonOnDemand, in_place, true)->Apply(common);
BENCHMARK_CAPTURE(BM_SimdjsonOnDemand, padded_copy, false)->Apply(common);
BENCHMARK(BM_ParseSafetensors)->Apply(common);

BENCHMARK_MAIN();
