// `ringload gen`: writes a valid model file with deterministic, position-encoded tensor bytes.
#include <chrono>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "gen/gen.hpp"
#include "progress.hpp"
#include "units.hpp"

namespace ringload::cli {

std::function<int()> add_gen(CLI::App& app) {
  struct Options {
    std::string format;
    std::string size = "64MiB";
    std::uint32_t tensors = 0;
    std::string dtype = "BF16";
    std::string compress = "none";
    std::string arch;
    std::uint64_t seed = 0;
    std::uint32_t shards = 0;
    bool quiet = false;
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "gen",
      "Generate a valid model file whose tensor bytes are a deterministic function of (seed, tensor\n"
      "name, byte position), so any misplaced byte is detectable. The tensor mix is a transformer's:\n"
      "embedding and output head, per-layer attention and MLP matrices, F32 norms; float values are\n"
      "finite. A GGUF file without --tensors is a llama model llama.cpp loads (--arch llama: its\n"
      "hyperparameters, tensors and a generated vocabulary).\n"
      "With --shards N, OUT is a directory holding one checkpoint over N files, tensors whole and shard\n"
      "sizes near equal: safetensors shards model-0000k-of-0000N.safetensors plus\n"
      "model.safetensors.index.json (Hugging Face's layout), or a llama.cpp GGUF split set\n"
      "model-0000k-of-0000N.gguf (split.no/split.count/split.tensors.count in every split, the model's\n"
      "metadata in the first). A tensor's bytes are the same as in a single-file gen of the same options.\n"
      "Examples: ringload gen --format gguf --size 2GiB --dtype F16 llama.gguf\n"
      "          ringload gen --format gguf --size 4GiB --tensors 1000 --dtype Q4_K model.gguf\n"
      "          ringload gen --format safetensors --size 8GiB --shards 8 ckpt/   # ringload inspect ckpt/\n"
      "          ringload gen --format gguf --size 2GiB --shards 3 split/        # "
      "split/model-00001-of-00003.gguf");
  sub->add_option("--format", opts->format, "apr | safetensors | gguf")
      ->required()
      ->check(CLI::IsMember({"apr", "safetensors", "gguf"}));
  sub->add_option("--size", opts->size, "Approximate tensor bytes: 4096, 64MiB, 2GiB, ...")
      ->capture_default_str();
  sub->add_option("--tensors", opts->tensors,
                  "Exact tensor count (default: chosen from --size like a real model)");
  sub->add_option("--dtype", opts->dtype,
                  "Weight dtype: F32 F16 BF16 I8 ... (safetensors), Q8_0 Q4_K Q6_K ... (gguf), "
                  "APR_Q4 APR_Q8 Q4_K Q6_K ... (apr)")
      ->capture_default_str();
  sub->add_option("--compress", opts->compress, "APR only: none | lz4 | zstd (whole-payload compression)")
      ->check(CLI::IsMember({"none", "lz4", "zstd"}))
      ->capture_default_str();
  sub->add_option("--arch", opts->arch,
                  "GGUF: llama (a model llama.cpp loads; default without --tensors) | none (the plain "
                  "tensor mix; default with --tensors)")
      ->check(CLI::IsMember({"llama", "none"}));
  sub->add_option("--seed", opts->seed, "Seed of the byte content")->capture_default_str();
  sub->add_option(
         "--shards", opts->shards,
         "Write a checkpoint of N files into the directory OUT (safetensors: shards + index; gguf: a "
         "split set)")
      ->check(CLI::Range(1U, gen::kMaxShards));
  sub->add_flag("-q,--quiet", opts->quiet, "No progress bar or summary");
  sub->add_option(
         "out", opts->out,
         "Output file (written to a temporary name, renamed when complete); with --shards, a directory")
      ->required();

  return [opts]() {
    gen::GenOptions g;
    g.format = opts->format == "apr"    ? Format::apr
               : opts->format == "gguf" ? Format::gguf
                                        : Format::safetensors;
    auto size = parse_size(opts->size);
    if (!size) {
      fmt::print(stderr, "ringload gen: --size '{}' is not a size (try 4096, 64MiB, 2GiB)\n", opts->size);
      return kExitBadInput;
    }
    g.target_bytes = *size;
    g.tensor_count = opts->tensors;
    std::string dtype_upper = opts->dtype;
    for (auto& c : dtype_upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto dtype = dtype_from_name(dtype_upper);
    if (!dtype) {
      fmt::print(stderr, "ringload gen: unknown dtype '{}'\n", opts->dtype);
      return kExitBadInput;
    }
    g.dtype = *dtype;
    g.compression = opts->compress == "lz4"    ? gen::Compression::lz4
                    : opts->compress == "zstd" ? gen::Compression::zstd
                                               : gen::Compression::none;
    if (g.compression != gen::Compression::none && g.format != Format::apr) {
      fmt::print(stderr, "ringload gen: --compress applies to --format apr only\n");
      return kExitBadInput;
    }
    g.arch = opts->arch == "llama"  ? gen::Arch::llama
             : opts->arch == "none" ? gen::Arch::none
                                    : gen::Arch::automatic;
    g.seed = opts->seed;
    g.shards = opts->shards;
    if (g.shards > 0 && g.format == Format::apr) {
      fmt::print(stderr,
                 "ringload gen: --shards writes --format safetensors or gguf (APR has no sharded layout)\n");
      return kExitBadInput;
    }
    ProgressBar bar("gen", g.target_bytes, !opts->quiet);
    // The generator reports against the real file size, which the bar adopts on first call.
    g.progress = [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };

    const auto start = std::chrono::steady_clock::now();
    auto report = gen::generate(opts->out, g);
    bar.finish();
    if (!report) {
      const Error& e = report.error();
      fmt::print(stderr, "ringload gen: {}\n", e.to_string());
      return e.kind == ErrorKind::invalid_argument ? kExitBadInput : kExitFailure;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!opts->quiet) {
      const std::string files =
          g.shards == 0 ? std::string()
                        : fmt::format("{} files: {} shards{}, ", report->files.size(), g.shards,
                                      g.format == Format::safetensors ? " + index" : " of a GGUF split set");
      fmt::print("wrote {}: {} ({}{} tensors, {} of tensor data, {} {}{}) in {} ({})\n", opts->out,
                 format_bytes(report->file_bytes), files, report->tensor_count,
                 format_bytes(report->tensor_bytes), opts->format, dtype_name(g.dtype),
                 report->arch == gen::Arch::llama ? ", llama" : "", format_seconds(seconds),
                 format_rate(static_cast<double>(report->file_bytes) / seconds));
    }
    return kExitOk;
  };
}

}  // namespace ringload::cli
