#include "base/json.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

namespace ringload {
namespace {

using Json = nlohmann::ordered_json;

// A SAX handler that builds the DOM itself, so that it can see every key (nlohmann's DOM parser
// silently lets a later duplicate replace an earlier one) and the byte where parsing failed.
class DomBuilder {
 public:
  explicit DomBuilder(bool reject_duplicates) : reject_duplicates_(reject_duplicates) {}

  bool null() { return put(Json(nullptr)); }
  bool boolean(bool v) { return put(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return put(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return put(Json(v)); }
  bool number_float(Json::number_float_t v, const std::string&) { return put(Json(v)); }
  bool string(std::string& v) { return put(Json(std::move(v))); }
  bool binary(Json::binary_t& v) { return put(Json(std::move(v))); }

  bool start_object(std::size_t) {
    stack_.push_back(Frame{Json::object(), {}, false, {}});
    return true;
  }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    f.pending_is_duplicate = seen_before(f, k);
    if (f.pending_is_duplicate && reject_duplicates_) {
      duplicate_key_ = k;
      found_duplicate_ = true;
      return false;
    }
    f.pending_key = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) {
    stack_.push_back(Frame{Json::array(), {}, false, {}});
    return true;
  }
  bool end_array() { return close(); }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    error_position_ = position;
    error_text_ = ex.what();
    return false;
  }

  Json result;
  std::string duplicate_key_;
  bool found_duplicate_ = false;  // the key itself may be "", so it cannot be the flag
  std::size_t error_position_ = 0;
  std::string error_text_;

 private:
  struct Frame {
    Json value;
    std::string pending_key;
    bool pending_is_duplicate = false;
    std::unordered_set<std::string> keys;
  };

  // Small objects (every safetensors tensor entry) are scanned; a hash set is built only once an
  // object grows past kScanLimit keys, so a 20,000-tensor header stays linear without paying a
  // set allocation per entry.
  static constexpr std::size_t kScanLimit = 16;
  static bool seen_before(Frame& f, const std::string& k) {
    const auto& object = f.value.get_ref<const Json::object_t&>();
    if (object.size() < kScanLimit) {
      return std::any_of(object.begin(), object.end(), [&](const auto& kv) { return kv.first == k; });
    }
    if (f.keys.empty()) {
      for (const auto& kv : object) f.keys.insert(kv.first);
    }
    return !f.keys.insert(k).second;
  }

  bool put(Json v) {
    if (stack_.empty()) {
      result = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.value.is_object()) {
      if (f.pending_is_duplicate) {
        f.value[f.pending_key] = std::move(v);  // last one wins, as serde_json and aprender do
      } else {
        // ordered_map::emplace searches linearly for the key first, which makes a 20,000-tensor
        // header quadratic; the key set above already proved the key is new.
        auto& object = f.value.get_ref<Json::object_t&>();
        object.Container::emplace_back(std::move(f.pending_key), std::move(v));
      }
    } else {
      f.value.push_back(std::move(v));
    }
    return true;
  }
  bool close() {
    Json done = std::move(stack_.back().value);
    stack_.pop_back();
    return put(std::move(done));
  }

  bool reject_duplicates_;
  std::vector<Frame> stack_;
};

}  // namespace

Result<nlohmann::ordered_json> parse_json(std::string_view text, std::uint64_t base_offset,
                                          const JsonParseOptions& options) {
  // nlohmann's lexer takes a NUL byte for the end of input, so "{}\0garbage" would parse;
  // a raw NUL is never valid JSON (not even inside a string).
  if (const void* nul = std::memchr(text.data(), '\0', text.size()); nul != nullptr) {
    const auto at = static_cast<std::uint64_t>(static_cast<const char*>(nul) - text.data());
    return make_error(ErrorKind::malformed_header, "NUL byte in JSON text (padding must be spaces)",
                      base_offset + at);
  }
  DomBuilder builder(options.reject_duplicate_keys);
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, nlohmann::detail::input_format_t::json,
                                  /*strict=*/true);
  if (ok) return std::move(builder.result);
  if (builder.found_duplicate_) {
    return make_error(ErrorKind::duplicate_name,
                      fmt::format("key \"{}\" appears twice in the JSON header", builder.duplicate_key_),
                      base_offset);
  }
  // nlohmann counts the position from 1 and points just past the offending character.
  const std::uint64_t at = builder.error_position_ > 0 ? builder.error_position_ - 1 : 0;
  return make_error(ErrorKind::malformed_header, fmt::format("invalid JSON: {}", builder.error_text_),
                    base_offset + at);
}

std::string dump_json(const nlohmann::ordered_json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace ringload
