// Placeholder until the generator lands (branch gen); keeps the tool linking.
#include "gen/gen.hpp"

namespace ringload::gen {
Result<GenReport> generate(const std::filesystem::path&, const GenOptions&) {
  return make_error(ErrorKind::unsupported_feature, "generator not written yet");
}
}  // namespace ringload::gen
