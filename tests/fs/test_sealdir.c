/* Unit tests: the directory behind sealed/ (fs/sealdir.h), reached only
 * beneath its descriptor.  Through the mount the kernel looks names up a
 * component at a time, so a link is refused before these calls; here
 * the walk itself is judged, as a race would meet it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "sealdir.h"
#include "tap.h"

static char top[] = "/tmp/test-sealdir-XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static int names(void *arg, const char *name, bool is_dir)
{
	char *buf = arg;

	strcat(buf, name);
	strcat(buf, is_dir ? "/ " : " ");
	return 0;
}

static bool has(const char *list, const char *word)
{
	char w[64];

	snprintf(w, sizeof(w), "%s ", word);
	return strncmp(list, w, strlen(w)) == 0 || strstr(list, w) != NULL;
}

static void test_commit(int d)
{
	char name[256], buf[16] = "";
	int parent, fd, rfd;

	put("dir/dir/c", "old");
	fd = sealdir_tmpfile(d, "sub/c", &parent, name);
	ok(fd < 0, "no temporary file in a directory that is a link");
	fd = sealdir_tmpfile(d, "dir/c", &parent, name);
	ok(fd >= 0 && strcmp(name, "c") == 0, "a temporary file beside dir/c");
	write(fd, "new", 3);
	rfd = sealdir_open(d, "dir/c", O_RDONLY);
	read(rfd, buf, sizeof(buf) - 1);
	ok(strcmp(buf, "old") == 0, "... which leaves dir/c alone until commit");
	close(rfd);
	ok(sealdir_commit(fd, parent, "c") == 0, "committed");
	rfd = sealdir_open(d, "dir/c", O_RDONLY);
	memset(buf, 0, sizeof(buf));
	read(rfd, buf, sizeof(buf) - 1);
	ok(strcmp(buf, "new") == 0, "dir/c is the new version");
	close(rfd);
	close(fd);
	close(parent);
}

int main(void)
{
	char p[512], list[512] = "";
	struct stat st;
	int d, fd;

	if (mkdtemp(top) == NULL)
		return 1;
	snprintf(p, sizeof(p), "%s/dir", top);
	mkdir(p, 0755);
	put("dir/f", "in");
	put("outside", "out");
	snprintf(p, sizeof(p), "%s/dir/ln", top);
	symlink("../outside", p);
	snprintf(p, sizeof(p), "%s/dir/sub", top);
	symlink("..", p);
	put("dir/" SEALDIR_TMP_PREFIX "x", "tmp");
	snprintf(p, sizeof(p), "%s/dir", top);
	d = open(p, O_RDONLY | O_DIRECTORY);

	ok(sealdir_stat(d, "f", &st) == 0 && S_ISREG(st.st_mode), "a file");
	ok(sealdir_stat(d, "", &st) == 0 && S_ISDIR(st.st_mode), "DIR itself");
	ok(sealdir_open(d, "ln", O_RDONLY) == -ENOENT, "a link to a file is not there");
	ok(sealdir_stat(d, "ln", &st) == -ENOENT, "... nor for stat");
	ok(sealdir_open(d, "sub/outside", O_RDONLY) < 0,
	   "a link to a directory is not walked through");
	ok(sealdir_open(d, "../outside", O_RDONLY) == -ENOENT, ".. is not a name");
	ok(sealdir_open(d, SEALDIR_TMP_PREFIX "x", O_RDONLY) == -ENOENT,
	   "a temporary file is not there");
	ok(sealdir_chmod(d, "ln", 0666) == -ENOENT &&
	   sealdir_chown(d, "ln", 0, 0) == -ENOENT, "no chmod, chown through a link");
	snprintf(p, sizeof(p), "%s/outside", top);
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) != 0666, "... the target kept its mode");
	ok(sealdir_remove(d, "f", true) == -ENOTDIR && sealdir_remove(d, "", true) == -EBUSY,
	   "rmdir of a file, of DIR: refused");
	sealdir_list(d, "", names, list);
	ok(has(list, "f") && !has(list, "ln") && !has(list, "sub/") &&
	   strstr(list, SEALDIR_TMP_PREFIX) == NULL,
	   "listed: files and directories, no links, no temporaries (%s)", list);
	fd = sealdir_open(d, "f", O_RDONLY);
	ok(fd >= 0, "a file opens");
	close(fd);
	ok(sealdir_mkdir(d, "dir", 0750, false, 0, 0) == 0 &&
	   sealdir_stat(d, "dir", &st) == 0 && (st.st_mode & 07777) == 0750,
	   "mkdir gives the exact mode asked");
	test_commit(d);
	close(d);
	snprintf(p, sizeof(p), "rm -rf %s", top);
	if (system(p) != 0)
		return 1;
	return done_testing();
}
