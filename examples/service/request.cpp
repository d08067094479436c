#include "request.hpp"

namespace service {

std::string Request::option(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

std::optional<Request> parse_request(std::string_view line, std::string& error) {
  std::vector<std::string> words;
  std::vector<bool> quoted;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i == line.size()) break;
    std::string word;
    if (line[i] == '"') {
      const std::size_t close = line.find('"', i + 1);
      if (close == std::string_view::npos) {
        error = "unclosed quote at column " + std::to_string(i + 1);
        return std::nullopt;
      }
      word = line.substr(i + 1, close - i - 1);
      i = close + 1;
      quoted.push_back(true);
    } else {
      const std::size_t end = line.find_first_of(" \t\r", i);
      word = line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
      i = end == std::string_view::npos ? line.size() : end;
      quoted.push_back(false);
    }
    words.push_back(std::move(word));
  }
  if (words.empty()) {
    error = "empty request (try: help)";
    return std::nullopt;
  }
  Request request;
  request.command = std::move(words[0]);
  for (std::size_t w = 1; w < words.size(); ++w) {
    const std::size_t eq = words[w].find('=');
    // A quoted word is always positional: a path may contain '='.
    if (!quoted[w] && eq != std::string::npos && eq > 0) {
      request.options[words[w].substr(0, eq)] = words[w].substr(eq + 1);
    } else {
      request.args.push_back(std::move(words[w]));
    }
  }
  return request;
}

}  // namespace service
