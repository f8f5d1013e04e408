/* pv_image_prepare: tells what kind of image a reference names, plans it with layout.c or
 * archive.c, and unpacks config and layers; on failure removes whatever it created. */
#include "image-internal.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LABEL_SIZE 96

typedef int (*plan_fn)(int dirfd, const char *tag, struct pv_image_plan *plan, pv_error *err);

/* One pv_image_prepare call: what it was asked, and what it created so far. */
struct prepare {
	const char *dest;
	const char *scratch;
	struct pv_digest_set *digests;  /* NULL: none wanted */
	char *path;     /* the path part of the reference */
	char *tag;      /* NULL when the reference has none */
	bool dest_made;
	bool scratch_made;
};

void pv_image_plan_clear(struct pv_image_plan *plan)
{
	free(plan->config.path);
	free(plan->config.digest);
	for (size_t i = 0; i < plan->n_layers; i++) {
		free(plan->layers[i].path);
		free(plan->layers[i].digest);
	}
	free(plan->layers);
	memset(plan, 0, sizeof(*plan));
}

static int blob_set(struct pv_blob *blob, const char *path, const char *digest, pv_error *err)
{
	char *p = strdup(path), *d = digest ? strdup(digest) : NULL;
	if (p == NULL || (digest && d == NULL)) {
		free(p);
		free(d);
		return pv_error_set(err, ENOMEM, "plan");
	}
	free(blob->path);
	free(blob->digest);
	blob->path = p;
	blob->digest = d;
	return 0;
}

int pv_image_plan_set_config(struct pv_image_plan *plan, const char *path, const char *digest,
			     pv_error *err)
{
	return blob_set(&plan->config, path, digest, err);
}

int pv_image_plan_add_layer(struct pv_image_plan *plan, const char *path, const char *digest,
			    pv_error *err)
{
	struct pv_blob *layers = realloc(plan->layers, (plan->n_layers + 1) * sizeof(*layers));
	if (layers == NULL)
		return pv_error_set(err, ENOMEM, "plan");
	plan->layers = layers;
	layers[plan->n_layers] = (struct pv_blob){ 0 };
	int r = blob_set(&layers[plan->n_layers], path, digest, err);
	if (r == 0)
		plan->n_layers++;
	return r;
}

/* "PATH[:TAG]". Paths may hold ':' themselves, so the whole reference is tried first, then
 * each prefix ending before a ':', shortest first. Returns -errno of the whole reference. */
static int split_ref(const char *ref, struct prepare *p, struct stat *st)
{
	if (stat(ref, st) == 0)
		return (p->path = strdup(ref)) ? 0 : -ENOMEM;
	int saved = errno;
	for (const char *c = strchr(ref, ':'); c; c = strchr(c + 1, ':')) {
		_cleanup_free_ char *path = strndup(ref, (size_t)(c - ref));
		if (path == NULL)
			return -ENOMEM;
		if (c[1] == '\0' || stat(path, st) < 0)
			continue;
		p->tag = strdup(c + 1);
		p->path = steal_pointer(&path);
		return p->tag ? 0 : -ENOMEM;
	}
	return -saved;
}

/* Creates path (which must not exist) and its parents; remembers it for the undo. */
static int make_dir(const char *path, mode_t mode, bool *made, pv_error *err)
{
	_cleanup_free_ char *copy = strdup(path);
	if (copy == NULL)
		return pv_error_set(err, ENOMEM, "%s", path);
	int r = pv_mkdir_p(dirname(copy), 0755, err);
	if (r < 0)
		return r;
	if (mkdir(path, mode) < 0)
		return pv_error_set(err, errno, "create %s", path);
	*made = true;
	return 0;
}

static int open_dir(const char *path, pv_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : pv_error_set(err, errno, "open %s", path);
}

static int read_config(int srcfd, const struct pv_blob *blob, struct pv_image_config *cfg,
		       pv_error *err)
{
	char label[LABEL_SIZE];
	_cleanup_json_ json_t *doc = NULL;
	if (pv_blob_read_json(srcfd, blob, &doc, err) < 0 ||
	    pv_image_config_from_json(doc, cfg, err) < 0)
		return pv_error_prefix(err, "config %s", pv_blob_label(blob, label, sizeof(label)));
	return 0;
}

static int apply_layer(const struct prepare *p, int srcfd, const struct pv_blob *blob, size_t n,
		       int destfd, pv_error *err)
{
	char label[LABEL_SIZE];
	_cleanup_close_ int fd = pv_blob_open(srcfd, blob, err);
	if (fd < 0 || pv_layer_apply_fd(fd, blob->digest, destfd, p->digests, err) < 0)
		return pv_error_prefix(err, "layer %zu (%s)", n,
				       pv_blob_label(blob, label, sizeof(label)));
	return 0;
}

static int unpack_layers(struct prepare *p, const struct pv_image_plan *plan, int srcfd,
			 pv_error *err)
{
	_cleanup_close_ int destfd = open_dir(p->dest, err);
	if (destfd < 0)
		return destfd;
	/* The rootfs root is the container's "/": not subject to our umask. */
	if (fchmod(destfd, 0755) < 0)
		return pv_error_set(err, errno, "chmod %s", p->dest);
	for (size_t i = 0; i < plan->n_layers; i++) {
		int r = apply_layer(p, srcfd, &plan->layers[i], i + 1, destfd, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Plans the image in source directory srcfd and unpacks it into dest. */
static int unpack_source(struct prepare *p, int srcfd, plan_fn plan_image, char **rootfs,
			 struct pv_image_config *cfg, pv_error *err)
{
	_cleanup_plan_ struct pv_image_plan plan = { 0 };
	int r = plan_image(srcfd, p->tag, &plan, err);
	if (r < 0 || (r = read_config(srcfd, &plan.config, cfg, err)) < 0 ||
	    (r = unpack_layers(p, &plan, srcfd, err)) < 0)
		return r;
	*rootfs = strdup(p->dest);
	return *rootfs ? 0 : pv_error_set(err, ENOMEM, "rootfs");
}

static int prepare_archive(struct prepare *p, char **rootfs, struct pv_image_config *cfg,
			   pv_error *err)
{
	int r = make_dir(p->scratch, 0700, &p->scratch_made, err);
	if (r < 0)
		return r;
	_cleanup_close_ int srcfd = open_dir(p->scratch, err);
	if (srcfd < 0)
		return srcfd;
	if ((r = pv_archive_unpack(p->path, srcfd, err)) < 0)
		return r;
	if (pv_oci_layout_detect(srcfd))
		r = unpack_source(p, srcfd, pv_oci_layout_plan, rootfs, cfg, err);
	else if (pv_docker_archive_detect(srcfd))
		r = unpack_source(p, srcfd, pv_docker_archive_plan, rootfs, cfg, err);
	else
		r = pv_error_set_plain(err, EINVAL, "neither an OCI archive (no oci-layout) "
					  "nor a docker archive (no manifest.json)");
	if (r < 0)
		return r;
	r = pv_rm_rf(p->scratch, err);
	p->scratch_made = r < 0;
	return r;
}

/* A directory without oci-layout is used in place. */
static int prepare_rootfs_dir(struct prepare *p, char **rootfs, pv_error *err)
{
	if (p->tag)
		return pv_error_set_plain(err, EINVAL, "not an OCI layout, so no tag %s", p->tag);
	*rootfs = realpath(p->path, NULL);
	return *rootfs ? 0 : pv_error_set(err, errno, "%s", p->path);
}

static int prepare(const char *ref, struct prepare *p, char **rootfs,
		   struct pv_image_config *cfg, pv_error *err)
{
	struct stat st;
	int r = split_ref(ref, p, &st);
	if (r < 0)
		return pv_error_set_plain(err, -r, "%s", strerror(-r));
	bool is_dir = S_ISDIR(st.st_mode);
	if (!is_dir && !S_ISREG(st.st_mode))
		return pv_error_set_plain(err, EINVAL, "neither a directory nor a tarball");
	_cleanup_close_ int srcfd = is_dir ? open_dir(p->path, err) : -1;
	if (is_dir && srcfd < 0)
		return srcfd;
	if (is_dir && !pv_oci_layout_detect(srcfd))
		return prepare_rootfs_dir(p, rootfs, err);
	/* Claim dest before any real work: it must not exist, and we must not remove it
	 * then. */
	if ((r = make_dir(p->dest, 0700, &p->dest_made, err)) < 0)
		return r;
	if (is_dir)
		return unpack_source(p, srcfd, pv_oci_layout_plan, rootfs, cfg, err);
	return prepare_archive(p, rootfs, cfg, err);
}

/* The file whose change means another image: a tarball, or a layout's index.json (its
 * blobs are content-addressed). */
static int identity_of(const struct prepare *p, const struct stat *st, char **key, pv_error *err)
{
	_cleanup_free_ char *real = realpath(p->path, NULL), *marker = NULL, *index = NULL;
	if (real == NULL)
		return pv_error_set(err, errno, "%s", p->path);
	struct stat ist = *st;
	*key = NULL;
	if (S_ISDIR(st->st_mode)) {
		if (asprintf(&marker, "%s/oci-layout", real) < 0 || asprintf(&index, "%s/index.json", real) < 0)
			return pv_error_set(err, ENOMEM, "image");
		struct stat mst;
		if (stat(marker, &mst) < 0 || !S_ISREG(mst.st_mode))
			return 0;  /* a plain rootfs directory: used in place (as pv_oci_layout_detect) */
		if (stat(index, &ist) < 0 && stat(marker, &ist) < 0)
			return pv_error_set(err, errno, "%s", marker);
	}
	if (asprintf(key, "%s\n%s\n%llu %llu %lld %lld.%09ld\n", real, p->tag ? p->tag : "",
		     (unsigned long long)ist.st_dev, (unsigned long long)ist.st_ino, (long long)ist.st_size,
		     (long long)ist.st_mtim.tv_sec, ist.st_mtim.tv_nsec) < 0) {
		*key = NULL;
		return pv_error_set(err, ENOMEM, "image");
	}
	return 0;
}

int pv_image_identity(const char *ref, char **key, pv_error *err)
{
	struct prepare p = { 0 };
	struct stat st;
	*key = NULL;
	int r = split_ref(ref, &p, &st);
	if (r < 0)
		r = pv_error_set_plain(err, -r, "image %s: %s", ref, strerror(-r));
	else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		r = pv_error_set_plain(err, EINVAL, "image %s: neither a directory nor a tarball", ref);
	else if (identity_of(&p, &st, key, err) < 0)
		r = pv_error_prefix(err, "image %s", ref);
	free(p.path);
	free(p.tag);
	return r;
}

static void undo(struct prepare *p)
{
	if (p->dest_made)
		pv_rm_rf(p->dest, NULL);
	if (p->scratch_made)
		pv_rm_rf(p->scratch, NULL);
}

int pv_image_prepare(const char *ref, const char *dest, const char *scratch, char **rootfs,
		     struct pv_image_config *cfg, pv_error *err)
{
	return pv_image_prepare_digests(ref, dest, scratch, NULL, rootfs, cfg, err);
}

int pv_image_prepare_digests(const char *ref, const char *dest, const char *scratch,
			     struct pv_digest_set *digests, char **rootfs, struct pv_image_config *cfg,
			     pv_error *err)
{
	struct prepare p = { .dest = dest, .scratch = scratch, .digests = digests };
	pv_error local = NULL;
	memset(cfg, 0, sizeof(*cfg));
	*rootfs = NULL;
	int r = prepare(ref, &p, rootfs, cfg, &local);
	if (r < 0) {
		undo(&p);
		pv_image_config_clear(cfg);
		free(steal_pointer(rootfs));
		pv_error_prefix(&local, "image %s", ref);
		if (err && *err == NULL)
			*err = steal_pointer(&local);
		pv_error_release(&local);
	}
	free(p.path);
	free(p.tag);
	return r;
}
