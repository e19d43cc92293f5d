"""One synthetic day end to end: rows land in the DuckDB file and add up."""


def test_one_synthetic_day_lands_in_the_warehouse(pipeline):
    result = pipeline.configure(synthetic_rows=2000).run("2024-03-01")
    assert result.success
    raw = pipeline.count("raw_sales", "2024-03-01")
    assert raw == 2000
    assert (
        pipeline.count("cleaned_sales", "2024-03-01")
        + pipeline.count("rejected_sales", "2024-03-01")
        == raw
    )
    assert pipeline.count("sales_metrics", "2024-03-01") > 0
