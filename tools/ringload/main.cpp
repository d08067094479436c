// ringload: inspect, generate and load model weight files (APR v2, safetensors, GGUF).
#include <csignal>
#include <cstdio>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"

namespace {

int run(int argc, char** argv) {
  CLI::App app{
      "ringload moves model weights (APR v2, safetensors, GGUF) from disk to their destination at\n"
      "the speed of the slowest link, and leaves nothing behind in host RAM, page cache or zram.\n\n"
      "Examples:\n"
      "  ringload gen --format safetensors --size 2GiB model.safetensors\n"
      "  ringload inspect model.safetensors            # tensor table\n"
      "  ringload inspect --json a.gguf b.apr          # machine-readable\n"
      "  ringload load --strategy mmap model.safetensors\n"
      "  ringload memstat model.safetensors            # RSS, zram, page-cache residency"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ringload 0.1.0");

  struct Entry {
    CLI::App* sub;
    std::function<int()> run;
  };
  std::vector<Entry> entries;
  auto add = [&](auto adder) {
    auto run = adder(app);
    entries.push_back({app.get_subcommands({}).back(), std::move(run)});
  };
  add(ringload::cli::add_inspect);
  add(ringload::cli::add_gen);
  add(ringload::cli::add_load);
  add(ringload::cli::add_memstat);
  add(ringload::cli::add_bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return ringload::cli::kExitBadInput;
  }
  for (auto& entry : entries) {
    if (entry.sub->parsed()) return entry.run();
  }
  return ringload::cli::kExitBadInput;
}

}  // namespace

int main(int argc, char** argv) {
  // CLI11 reports through exceptions; the library never throws. Anything left (bad_alloc) ends
  // here with a message rather than std::terminate.
  try {
    return run(argc, argv);
  } catch (const std::system_error& e) {
    // The reader of our output went away (`ringload inspect | head` where the launcher left
    // SIGPIPE ignored, so the write fails with EPIPE instead of ending us): nobody is left to read
    // a message. End quietly with the status the signal would have given.
    if (e.code() == std::errc::broken_pipe) return 128 + SIGPIPE;
    fmt::print(stderr, "ringload: {}\n", e.what());
    return ringload::cli::kExitFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ringload: {}\n", e.what());
    return ringload::cli::kExitFailure;
  }
}
