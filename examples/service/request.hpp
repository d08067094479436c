// The service's wire format: one request per line, words separated by blanks, "double quotes"
// around a word with blanks in it (a path), `key=value` words for options:
//   load NAME PATH [strategy=auto] [sink=host|null|cuda] [mode=async|blocking]
// One JSON object per line comes back.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace service {

struct Request {
  std::string command;
  std::vector<std::string> args;               // positional words after the command
  std::map<std::string, std::string> options;  // key=value words

  [[nodiscard]] std::string option(const std::string& key, const std::string& fallback) const;
};

// nullopt with `error` set when the line cannot be split (an unclosed quote, nothing but blanks).
[[nodiscard]] std::optional<Request> parse_request(std::string_view line, std::string& error);

}  // namespace service
