# lwIP: fetched and patched at build time (see issue 2)
