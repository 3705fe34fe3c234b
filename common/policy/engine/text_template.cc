#include "common/policy/engine/text_template.h"

#include <utility>

#include "absl/status/status.h"

namespace treatd {

absl::StatusOr<TextTemplate> TextTemplate::Compile(
    absl::string_view text, expr::Env& env,
    std::vector<expr::ExprError>* errors) {
  TextTemplate out;
  bool failed = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == absl::string_view::npos) {
      out.parts_.push_back({std::string(text.substr(pos)), nullptr});
      break;
    }
    if (open > pos) {
      out.parts_.push_back(
          {std::string(text.substr(pos, open - pos)), nullptr});
    }
    const size_t start = open + 2;
    const size_t close = text.find("}}", start);
    if (close == absl::string_view::npos) {
      errors->push_back(
          {static_cast<int>(open), "'{{' without a closing '}}'"});
      return absl::InvalidArgumentError("unterminated placeholder");
    }
    const absl::string_view source = text.substr(start, close - start);
    std::vector<expr::ExprError> local;
    auto checked = expr::CheckAndPlan(source, env, std::nullopt, &local);
    for (auto& e : local) {
      e.offset += static_cast<int>(start);
      errors->push_back(std::move(e));
    }
    if (checked.ok()) {
      out.parts_.push_back({"", std::move(checked->program)});
    } else {
      failed = true;
    }
    pos = close + 2;
  }
  if (failed) return absl::InvalidArgumentError("invalid placeholder");
  return out;
}

std::string TextTemplate::Render(expr::Frame& frame) const {
  std::string out;
  RenderTo(frame, &out);
  return out;
}

void TextTemplate::RenderTo(expr::Frame& frame, std::string* out) const {
  for (const Part& part : parts_) {
    if (part.program == nullptr) {
      out->append(part.literal);
    } else {
      expr::AppendValue(part.program->Evaluate(frame), /*quote_strings=*/false,
                        out);
    }
  }
}

}  // namespace treatd
