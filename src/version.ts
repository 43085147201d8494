// The git branch and commit the binary was built from, baked in by scripts/build.ts with
// --define. Run from source, they are "unknown".

declare const BUILD_GIT_BRANCH: string | undefined;
declare const BUILD_GIT_COMMIT: string | undefined;
declare const BUILD_VERSION: string | undefined;

export function versionText(): string {
  const version = typeof BUILD_VERSION === "string" ? BUILD_VERSION : "dev";
  const branch = typeof BUILD_GIT_BRANCH === "string" ? BUILD_GIT_BRANCH : "unknown";
  const commit = typeof BUILD_GIT_COMMIT === "string" ? BUILD_GIT_COMMIT : "unknown";
  return `sqlite3-server ${version} (branch ${branch}, commit ${commit})`;
}
