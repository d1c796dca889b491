/* SPDX-License-Identifier: MIT */
/* UI reloads and ui-source changes for one served extension. */
#include "devloop.h"

#include <stdlib.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "ext/watch.h"

struct dext_devloop {
    const struct dext_store *store;
    char *name;
    struct dext_site **site_ref;
    struct dext_watch *ui, *record;
};

static void on_ui_change(void *data)
{
    struct dext_devloop *dl = data;

    if (*dl->site_ref) {
        log_info("%s: the UI changed; reloading its pages", dl->name);
        dext_site_reload_pages(*dl->site_ref);
    }
}

static void on_record_change(void *data)
{
    struct dext_devloop *dl = data;
    struct dext_store_entry e;

    if (!*dl->site_ref || dext_store_get(dl->store, dl->name, &e) < 0)
        return;
    if (dext_site_set_dev_url(*dl->site_ref, e.ui_source)) {
        log_info("%s: the UI now comes from %s", dl->name, e.ui_source ? e.ui_source : "its files");
        dext_site_reload_pages(*dl->site_ref);
    }
    dext_store_entry_done(&e);
}

int dext_devloop_new(uv_loop_t *loop, const struct dext_store *store, const char *name,
                     const char *ui_dir, bool watch_ui, struct dext_site **site_ref,
                     struct dext_devloop **ret)
{
    struct dext_devloop *dl = xcalloc(1, sizeof(*dl));
    char *rec = dext_store_ext_path(store, name);
    int r;

    dl->store = store;
    dl->name = xstrdup(name);
    dl->site_ref = site_ref;
    r = dext_watch_new(loop, rec, false, on_record_change, dl, &dl->record);
    free(rec);
    if (r < 0) {
        dext_devloop_free(dl);
        return r;
    }
    if (watch_ui && ui_dir) {
        r = dext_watch_new(loop, ui_dir, true, on_ui_change, dl, &dl->ui);
        if (r < 0)
            log_warn("%s: cannot watch the UI directory for changes: %s", name, uv_strerror(r));
    }
    *ret = dl;
    return 0;
}

void dext_devloop_free(struct dext_devloop *dl)
{
    if (!dl)
        return;
    dext_watch_free(dl->ui);
    dext_watch_free(dl->record);
    free(dl->name);
    free(dl);
}
