"""The query API's machinery: parameters, series selection, raw pages, buckets, formats, export, latest."""
