#include "storage/s3/s3_xml.h"

#include <charconv>

namespace cairn::s3 {
namespace {

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::optional<std::string> XmlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) return std::nullopt;
    std::string_view ent = text.substr(i + 1, semi - i - 1);
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (ent.size() >= 2 && ent[0] == '#') {
      int base = 10;
      std::string_view digits = ent.substr(1);
      if (digits[0] == 'x' || digits[0] == 'X') {
        base = 16;
        digits = digits.substr(1);
      }
      uint32_t cp = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, base);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || cp == 0 ||
          cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return std::nullopt;
      AppendUtf8(&out, cp);
    } else {
      return std::nullopt;
    }
    i = semi + 1;
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string_view> XmlElement(std::string_view xml, std::string_view tag, size_t* pos) {
  const std::string open = "<" + std::string(tag);
  size_t at = *pos;
  while (true) {
    at = xml.find(open, at);
    if (at == std::string_view::npos) return std::nullopt;
    size_t after = at + open.size();
    if (after >= xml.size()) return std::nullopt;
    char next = xml[after];
    if (next == '>' || next == ' ' || next == '\t' || next == '\r' || next == '\n' || next == '/') {
      size_t gt = xml.find('>', after);
      if (gt == std::string_view::npos) return std::nullopt;
      if (xml[gt - 1] == '/') {  // <Tag/>
        *pos = gt + 1;
        return std::string_view();
      }
      const std::string close = "</" + std::string(tag) + ">";
      size_t end = xml.find(close, gt + 1);
      if (end == std::string_view::npos) return std::nullopt;
      *pos = end + close.size();
      return xml.substr(gt + 1, end - gt - 1);
    }
    at = after;  // a longer tag name sharing the prefix (<KeyCount> vs <Key>)
  }
}

std::optional<std::string> XmlText(std::string_view xml, std::string_view tag) {
  size_t pos = 0;
  auto raw = XmlElement(xml, tag, &pos);
  if (!raw) return std::nullopt;
  return XmlDecode(*raw);
}

bool ParseListObjectsV2(std::string_view xml, ListPage* page) {
  page->entries.clear();
  page->truncated = false;
  page->next_token.clear();
  size_t root = 0;
  auto body = XmlElement(xml, "ListBucketResult", &root);
  if (!body) return false;
  // Read the <Contents> entries first, then look for the paging fields only
  // outside of them (a key is escaped text, so it cannot contain a tag).
  std::string rest;
  size_t pos = 0, last_end = 0;
  while (true) {
    size_t start = body->find("<Contents", pos);
    size_t elem = pos;
    auto contents = XmlElement(*body, "Contents", &elem);
    if (!contents) break;
    rest.append(body->substr(last_end, start - last_end));
    last_end = elem;
    pos = elem;
    auto key = XmlText(*contents, "Key");
    auto size = XmlText(*contents, "Size");
    if (!key || key->empty() || !size) return false;
    ListEntry entry;
    entry.key = std::move(*key);
    auto [end, ec] = std::from_chars(size->data(), size->data() + size->size(), entry.size);
    if (ec != std::errc() || end != size->data() + size->size()) return false;
    page->entries.push_back(std::move(entry));
  }
  rest.append(body->substr(last_end));
  auto truncated = XmlText(rest, "IsTruncated");
  if (!truncated) return false;
  if (*truncated == "true") {
    page->truncated = true;
    auto token = XmlText(rest, "NextContinuationToken");
    if (!token || token->empty()) return false;
    page->next_token = std::move(*token);
  } else if (*truncated != "false") {
    return false;
  }
  return true;
}

std::optional<S3ErrorInfo> ParseS3Error(std::string_view xml) {
  size_t pos = 0;
  auto body = XmlElement(xml, "Error", &pos);
  if (!body) return std::nullopt;
  S3ErrorInfo info;
  if (auto code = XmlText(*body, "Code")) info.code = *code;
  if (auto message = XmlText(*body, "Message")) info.message = *message;
  return info;
}

}  // namespace cairn::s3
