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
      Part part{"", std::move(checked->program)};
      // The root instruction reads a string field from the finding
      // through accessors alone (Program's fast_field, from the root).
      const expr::Instr& root = part.program->code().front();
      if (root.op == expr::Op::kField && root.fast_field && root.kid[0] < 0 &&
          root.node->kind == expr::ValueKind::kString &&
          root.node->accessors.back().scalar != nullptr) {
        part.accessors = root.node->accessors.data();
        part.hops = root.hops;
      }
      out.parts_.push_back(std::move(part));
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

void TextTemplate::NumberKeptParts(
    const std::function<bool(const expr::Program&)>& keep, int* next) {
  for (Part& part : parts_) {
    part.kept = -1;
    if (part.program != nullptr && part.accessors == nullptr &&
        keep(*part.program)) {
      part.kept = (*next)++;
    }
  }
}

void TextTemplate::RenderTo(
    expr::Frame& frame, std::string* out,
    std::vector<std::optional<std::string>>* kept) const {
  // A string with room to spare (a reused decision's) is rendered into in
  // place. Any other (a new decision's, on a request's arena) gets the
  // text rendered into a per-thread buffer first and appended in one
  // piece: it then grows once to its size instead of doubling part by
  // part (the server profile: ~900 instructions per FULL decision).
  if (out->capacity() - out->size() >= 128) {
    RenderParts(frame, out, kept);
    return;
  }
  static thread_local std::string buffer;
  buffer.clear();
  RenderParts(frame, &buffer, kept);
  out->append(buffer);
}

void TextTemplate::RenderParts(
    expr::Frame& frame, std::string* out,
    std::vector<std::optional<std::string>>* kept) const {
  for (const Part& part : parts_) {
    if (part.program == nullptr) {
      out->append(part.literal);
    } else if (kept != nullptr && part.kept >= 0) {
      std::optional<std::string>& text = (*kept)[part.kept];
      if (!text.has_value()) {
        text.emplace();
        expr::AppendValue(part.program->Evaluate(frame),
                          /*quote_strings=*/false, &*text);
      }
      out->append(*text);
    } else if (part.accessors != nullptr) {
      // Program's ReadFastField (program.cc) again, for a string leaf
      // only, on purpose: sharing it costs. Shared through a header (the
      // Part keeping the Instr), Program::Run stays as it is but this loop
      // takes +59 instructions per FULL decision; an earlier shared helper
      // made Run spill registers (+50). Callgrind, docs/performance.md
      // ("Text templates' field read: not shared").
      const google::protobuf::Message* m = frame.root();
      for (int i = 0; i + 1 < part.hops; ++i) {
        m = &part.accessors[i].message(*m);
      }
      expr::AppendValue(part.accessors[part.hops - 1].scalar(*m),
                        /*quote_strings=*/false, out);
    } else {
      expr::AppendValue(part.program->Evaluate(frame), /*quote_strings=*/false,
                        out);
    }
  }
}

}  // namespace treatd
