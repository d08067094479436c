#include "collective/status_record.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/utf8.hpp"

namespace ringload {
namespace {

constexpr std::size_t kMessageAt = 2 + sizeof(std::uint64_t);  // ok, kind, plan digest, message

}  // namespace

RankStatus failed_status(const Error& e) {
  std::string message = e.to_string();
  const std::string suffix = fmt::format(" [{}]", to_string(e.kind));
  if (message.size() >= suffix.size() && message.ends_with(suffix))
    message.resize(message.size() - suffix.size());
  return RankStatus{.ok = false, .kind = e.kind, .message = std::move(message)};
}

StatusRecord encode_status(const RankStatus& status) {
  StatusRecord record{};
  record[0] = status.ok ? 1 : 0;
  record[1] = static_cast<char>(status.kind);
  std::memcpy(record.data() + 2, &status.plan_digest, sizeof status.plan_digest);
  const std::string_view message =
      utf8_prefix(status.message, kStatusRecordBytes - kMessageAt - 1);  // a NUL stays
  std::memcpy(record.data() + kMessageAt, message.data(), message.size());
  return record;
}

RankStatus decode_status(const char* record) {
  RankStatus status;
  status.ok = record[0] != 0;
  status.kind = static_cast<ErrorKind>(
      std::min<unsigned>(static_cast<unsigned char>(record[1]), static_cast<unsigned>(kLastErrorKind)));
  std::memcpy(&status.plan_digest, record + 2, sizeof status.plan_digest);
  status.message.assign(record + kMessageAt, ::strnlen(record + kMessageAt, kStatusRecordBytes - kMessageAt));
  return status;
}

}  // namespace ringload
