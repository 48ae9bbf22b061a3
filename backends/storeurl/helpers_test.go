package storeurl_test

import (
	"fmt"

	mgo "github.com/minio/minio-go/v7"
)

func sprint(v any) string { return fmt.Sprintf("%+v", v) }

func minioMakeBucketOptions() mgo.MakeBucketOptions { return mgo.MakeBucketOptions{} }
