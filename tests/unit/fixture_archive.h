/* One entry written to an archive being made with libarchive's writer: a test's fixture
 * (a layer tar, an initramfs cpio) is built in the test, not checked in. type is an AE_IF*
 * file type; link is a symlink's target, or for other types a hard link's; data is a
 * regular file's content. */
#pragma once
#include <archive.h>
#include <archive_entry.h>
#include <string.h>

static inline void fixture_entry_add(struct archive *a, const char *path, mode_t type, const char *data,
				     const char *link)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_nlink(e, 1);
	if (link && type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
	archive_write_header(a, e);
	if (data)
		archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

/* A test's guest initramfs at path: a gzip'd newc cpio of /init ("the agent\n"),
 * /bin/tool ("a tool\n"), the symlink /bin/sh -> tool and an empty /dev. */
static inline void fixture_initramfs(const char *path)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_cpio_newc(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_filename(a, path);
	fixture_entry_add(a, ".", AE_IFDIR, NULL, NULL);
	fixture_entry_add(a, "./init", AE_IFREG, "the agent\n", NULL);
	fixture_entry_add(a, "./bin", AE_IFDIR, NULL, NULL);
	fixture_entry_add(a, "./bin/tool", AE_IFREG, "a tool\n", NULL);
	fixture_entry_add(a, "./bin/sh", AE_IFLNK, "", "tool");
	fixture_entry_add(a, "./dev", AE_IFDIR, NULL, NULL);
	archive_write_close(a);
	archive_write_free(a);
}
