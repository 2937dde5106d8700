#pragma once

// Whether this test binary was built with a sanitizer (scripts/test's build/sanitize): tests that
// measure the process, or starve it of what the sanitizer runtime itself needs, adjust to it.

namespace bb::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
#else
inline constexpr bool kSanitizedBuild = false;
#endif

}  // namespace bb::test
