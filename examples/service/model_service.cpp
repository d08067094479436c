#include "model_service.hpp"

#include <optional>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ringload/memstat.hpp>

namespace service {
namespace {

namespace asio = boost::asio;

constexpr const char* kHelp =
    "load NAME PATH [strategy=auto] [sink=host|null|cuda] [mode=async|blocking] | "
    "tensor NAME TENSOR | cancel NAME | unload NAME | list | stats [reset] | shutdown | help";

json failure(std::string message, std::string_view kind = "invalid_argument") {
  return json{{"ok", false}, {"kind", kind}, {"error", std::move(message)}};
}

json failure(const ringload::Error& error) {
  return failure(error.to_string(), ringload::to_string(error.kind));
}

// A failed completion: its Error where it came with one (it names file, tensor and offset), else
// what the code alone says (async_discard's refusal).
json failure(const boost::system::error_code& ec, const std::optional<ringload::Error>& error) {
  if (error) return failure(*error);
  const auto kind = ringload::error_kind(ec);
  const std::string kind_name =
      kind ? std::string(ringload::to_string(*kind))
           : (ec == asio::error::operation_aborted ? "cancelled" : ec.category().name());
  return failure(ec.message(), kind_name);
}

ringload::Result<std::unique_ptr<ringload::Sink>> make_sink(const std::string& kind) {
  if (kind == "host") return std::unique_ptr<ringload::Sink>(std::make_unique<ringload::HostSink>());
  if (kind == "null") return std::unique_ptr<ringload::Sink>(std::make_unique<ringload::NullSink>());
  if (kind == "cuda") return ringload::make_cuda_sink();
  return ringload::make_error(ringload::ErrorKind::invalid_argument,
                              fmt::format("unknown sink '{}': host, null or cuda", kind));
}

json report_json(const ringload::LoadReport& r) {
  return json{{"strategy", ringload::to_string(r.strategy)},
              {"tensors", r.tensors},
              {"bytes", r.bytes},
              {"wall_s", r.wall_s},
              {"gb_per_s", r.gb_per_s},
              {"time_to_first_tensor_s", r.time_to_first_tensor_s},
              {"file_resident_pages_after", r.file_resident_pages_after},
              {"file_total_pages", r.file_total_pages}};
}

}  // namespace

ModelService::ModelService(const asio::any_io_executor& executor, const ServiceOptions& options)
    : executor_(executor), lateness_(executor, options.tick), loader_(executor, options.loader) {
  lateness_.start();
}

ModelService::~ModelService() = default;

void ModelService::shut_down() {
  shutting_down_ = true;
  lateness_.stop();
  for (auto& [name, model] : models_) {
    if (model->loading) model->cancel.emit(asio::cancellation_type::terminal);
  }
}

asio::awaitable<json> ModelService::handle(std::string line) {
  std::string error;
  const std::optional<Request> request = parse_request(line, error);
  if (!request) co_return failure(error);
  const std::string& command = request->command;
  if (shutting_down_) co_return failure("the service is shutting down", "cancelled");
  if (command == "load") co_return co_await load(*request);
  if (command == "tensor") co_return co_await wait_for_tensor(*request);
  if (command == "cancel") co_return cancel(*request);
  if (command == "unload") co_return co_await unload(*request);
  if (command == "list") co_return list();
  if (command == "stats") co_return stats(*request);
  if (command == "help") co_return json{{"ok", true}, {"commands", kHelp}};
  if (command == "shutdown") {
    shut_down();
    co_return json{{"ok", true}, {"shutting_down", true}};
  }
  co_return failure(fmt::format("unknown command '{}': {}", command, kHelp));
}

asio::awaitable<json> ModelService::load(const Request& request) {
  if (request.args.size() != 2) co_return failure(fmt::format("usage: load NAME PATH [options]; {}", kHelp));
  const std::string& name = request.args[0];
  if (models_.contains(name))
    co_return failure(fmt::format("a model named '{}' is already loaded: unload it first", name));
  const std::string mode = request.option("mode", "async");
  if (mode != "async" && mode != "blocking")
    co_return failure(fmt::format("unknown mode '{}': async or blocking", mode));

  ringload::PipelineOptions options;
  // The blocking baseline is the synchronous mmap loader, as a service without ringload's async
  // API would call it.
  const std::string strategy_name = request.option("strategy", mode == "blocking" ? "mmap" : "auto");
  const auto strategy = ringload::strategy_from_name(strategy_name);
  if (!strategy) co_return failure(fmt::format("unknown strategy '{}'", strategy_name));
  options.strategy = *strategy;
  const std::string sink_kind = request.option("sink", "host");
  auto sink = make_sink(sink_kind);
  if (!sink) co_return failure(sink.error());

  auto model = std::make_shared<Model>();
  model->name = name;
  model->path = request.args[1];
  model->sink_kind = sink_kind;
  model->mode = mode;
  model->sink = std::move(sink).value();
  model->readiness = ringload::TensorReadiness::create(executor_);
  model->readiness->watch(options);
  models_.emplace(name, model);

  boost::system::error_code ec;
  ringload::LoadReport report;
  if (mode == "blocking") {
    // On the loop thread, on purpose: this is what the bench measures the async path against.
    auto loaded = ringload::load_into(model->path, *model->sink, options);
    if (loaded) {
      report = std::move(loaded).value();
    } else {
      ec = ringload::make_error_code(loaded.error());
      report.error = std::move(loaded).error();
    }
  } else {
    // Named objects, not temporaries, in the co_await expression (g++ 12: see async.hpp).
    const std::filesystem::path path = model->path;
    auto token = asio::bind_cancellation_slot(model->cancel.slot(), asio::as_tuple(asio::use_awaitable));
    std::tie(ec, report) = co_await ringload::async_load(loader_, path, *model->sink, options, token);
  }
  model->loading = false;
  if (ec) {
    // The load discarded the sink's destinations; forget the model unless a new one took its name.
    if (auto it = models_.find(name); it != models_.end() && it->second == model) models_.erase(it);
    co_return failure(ec, report.error);
  }
  model->report = report;
  json out = report_json(report);
  out["ok"] = true;
  out["name"] = name;
  out["mode"] = mode;
  co_return out;
}

asio::awaitable<json> ModelService::wait_for_tensor(const Request& request) {
  if (request.args.size() != 2) co_return failure("usage: tensor NAME TENSOR");
  auto it = models_.find(request.args[0]);
  if (it == models_.end())
    co_return failure(fmt::format("no model named '{}'", request.args[0]), "not_found");
  // Held by the wait: the model may be unloaded while it waits.
  const std::shared_ptr<ringload::TensorReadiness> readiness = it->second->readiness;
  const std::string tensor_name = request.args[1];
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec, tensor] = co_await readiness->async_wait(tensor_name, token);
  if (ec) co_return failure(ec, tensor.error);
  json shape = json::array();
  for (const auto dim : tensor.info.shape) shape.push_back(dim);
  co_return json{{"ok", true},
                 {"tensor", tensor.info.name},
                 {"dtype", ringload::dtype_name(tensor.info.dtype)},
                 {"shape", shape},
                 {"bytes", tensor.destination.size},
                 {"on_device", tensor.destination.on_device}};
}

json ModelService::cancel(const Request& request) {
  if (request.args.size() != 1) return failure("usage: cancel NAME");
  auto it = models_.find(request.args[0]);
  if (it == models_.end()) return failure(fmt::format("no model named '{}'", request.args[0]), "not_found");
  Model& model = *it->second;
  if (!model.loading) return failure(fmt::format("'{}' is not loading (unload it instead)", model.name));
  model.cancel_requested = true;
  model.cancel.emit(asio::cancellation_type::terminal);  // its `load` request answers "cancelled"
  return json{{"ok", true}, {"cancelling", model.name}};
}

asio::awaitable<json> ModelService::unload(const Request& request) {
  if (request.args.size() != 1) co_return failure("usage: unload NAME");
  auto it = models_.find(request.args[0]);
  if (it == models_.end())
    co_return failure(fmt::format("no model named '{}'", request.args[0]), "not_found");
  if (it->second->loading) co_return cancel(request);
  if (it->second->unloading)
    co_return failure(fmt::format("'{}' is already being unloaded", request.args[0]));
  // Held until the discard completes: the sink must outlive it.
  const std::shared_ptr<Model> model = it->second;
  model->unloading = true;
  const std::uint64_t bytes = model->report ? model->report->bytes : 0;
  const auto start = std::chrono::steady_clock::now();
  // Freeing GiBs of destinations takes milliseconds: on the loader's io thread, not on this loop.
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await ringload::async_discard(loader_, *model->sink, token);
  if (ec) co_return failure(ec, std::nullopt);
  models_.erase(model->name);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json out{{"ok", true}, {"unloaded", model->name}, {"bytes", bytes}, {"unload_s", seconds}};
  if (auto memory = ringload::process_memory()) out["rss_anon_bytes"] = memory->rss_anon_bytes;
  co_return out;
}

json ModelService::list() const {
  json models = json::array();
  for (const auto& [name, model] : models_) {
    json entry{{"name", name},
               {"path", model->path},
               {"state", model->loading     ? (model->cancel_requested ? "cancelling" : "loading")
                         : model->unloading ? "unloading"
                                            : "ready"},
               {"sink", model->sink_kind},
               {"mode", model->mode}};
    if (model->report) entry.update(report_json(*model->report));
    models.push_back(std::move(entry));
  }
  return json{{"ok", true}, {"models", std::move(models)}};
}

json ModelService::stats(const Request& request) {
  const LatenessSummary timer = lateness_.summary();
  const ringload::AsyncLoaderStats loader = loader_.stats();
  json out{{"ok", true},
           {"timer",
            {{"period_us", timer.period_us},
             {"ticks", timer.ticks},
             {"p50_us", timer.p50_us},
             {"p99_us", timer.p99_us},
             {"max_us", timer.max_us},
             {"max_at_s", timer.max_at_s},
             {"window_s", timer.window_s}}},
           {"loader",
            {{"loads_in_flight", loader.loads_in_flight},
             {"loads_completed", loader.loads_completed},
             {"staging_bytes", loader.staging_bytes},
             {"rings_created", loader.rings_created}}},
           {"models", models_.size()}};
  if (auto memory = ringload::process_memory()) {
    out["memory"] = {{"rss_anon_bytes", memory->rss_anon_bytes},
                     {"rss_file_bytes", memory->rss_file_bytes},
                     {"peak_rss_bytes", memory->hwm_bytes}};
  }
  if (!request.args.empty() && request.args[0] == "reset") lateness_.reset();  // after reading
  return out;
}

}  // namespace service
