SELECT * FROM segmentation.refresh_due();
